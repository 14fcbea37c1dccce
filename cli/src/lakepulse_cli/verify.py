"""``lakepulse verify``: reconcile silver with PostgreSQL and every gold mart with the ground truth.

Run it when the source is quiet (no workload): it records the source LSN, reads the source once,
then compares the lake with it — polling until the pipeline has caught up or the timeout expires, so
"not there yet" and "wrong" are told apart. The source position is read again at the end; if a write
transaction committed meanwhile, the result says so (the comparison was then not at one consistent
point). "Moved" is judged by the next transaction id, not the WAL position: the CDC emitter's idle
heartbeat (a non-transactional ``pg_logical_emit_message``) advances the WAL without any data change.

Values are compared after the documented silver cleansing (e-mail trimmed and lower-cased, phone
digits only) and type normalisation (decimals by value, timestamps as naive UTC, JSON by content).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.extras
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

import lakepulse_oltp.ground_truth as ground_truth
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import for_delta_rs, table_uri
from lakepulse_oltp.catalog import PRIMARY_KEYS, PUBLISHED_TABLES

Row = dict[str, Any]
EMAIL_COLUMNS = frozenset({"email", "email_address"})
PHONE_COLUMNS = frozenset({"phone_number", "fax_number"})


@dataclass
class Check:
    layer: str
    name: str
    expected_rows: int
    actual_rows: int
    mismatched_keys: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.mismatched_keys and self.expected_rows == self.actual_rows


def normalise(value: Any, column: str = "") -> Any:
    if isinstance(value, str):
        if column in EMAIL_COLUMNS:
            value = value.strip().lower() or None
        elif column in PHONE_COLUMNS:
            value = "".join(ch for ch in value if ch.isdigit()) or None
        return value
    if isinstance(value, Decimal):
        return value.normalize() if value != 0 else Decimal(0)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _json_text(value: Any) -> Any:
    """A JSON document stored as text in the lake, in the same canonical form as the source's jsonb."""
    if isinstance(value, str):
        try:
            return json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return value
    return value


def compare(
    layer: str,
    name: str,
    expected: Sequence[Row],
    actual: Sequence[Row],
    keys: Sequence[str],
    columns: Sequence[str],
    *,
    json_columns: Iterable[str] = (),
    show: int = 5,
) -> Check:
    json_cols = set(json_columns)

    def index(rows: Sequence[Row], lake: bool) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        out = {}
        for row in rows:
            key = tuple(normalise(row.get(k)) for k in keys)
            values = []
            for column in columns:
                value = row.get(column)
                if lake and column in json_cols:
                    value = _json_text(value)
                values.append(normalise(value, column))
            out[key] = tuple(values)
        return out

    want, have = index(expected, lake=False), index(actual, lake=True)
    differing = sorted(
        (k for k in want.keys() | have.keys() if want.get(k) != have.get(k)), key=lambda k: tuple(map(str, k))
    )
    shown = []
    for key in differing[:show]:
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
        if key not in have:
            shown.append(f"{label}: missing in {layer}")
        elif key not in want:
            shown.append(f"{label}: not in the source")
        else:
            diffs = [
                f"{c}: {w!r} ≠ {h!r}" for c, w, h in zip(columns, want[key], have[key], strict=True) if w != h
            ]
            shown.append(f"{label}: " + "; ".join(diffs[:3]))
    if len(differing) > show:
        shown.append(f"… {len(differing) - show} more")
    return Check(layer, name, len(want), len(have), shown)


def _source_rows(settings: LakePulseSettings, sql: str) -> tuple[list[Row], list[str]]:
    conn = psycopg2.connect(settings.postgres.dsn())
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql)
            rows = [dict(r) for r in cur.fetchall()]
            columns = [d.name for d in cur.description or []]
    finally:
        conn.close()
    return rows, columns


def _json_columns(settings: LakePulseSettings, schema: str, table: str) -> list[str]:
    rows, _ = _source_rows(
        settings,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        f"'{schema}' AND table_name = '{table}' AND data_type IN ('json', 'jsonb')",
    )
    return [r["column_name"] for r in rows]


def _lake_rows(settings: LakePulseSettings, layer: str, table: str) -> list[Row] | None:
    try:
        delta = DeltaTable(for_delta_rs(table_uri(settings.lake_root, layer, table)))
    except TableNotFoundError:
        return None
    rows: list[Row] = delta.to_pyarrow_table().to_pylist()
    return rows


@dataclass(frozen=True)
class SourcePosition:
    """The source's WAL insert position and its next transaction id (which only write transactions take)."""

    lsn: str
    next_xid: int

    def writes_since(self, earlier: SourcePosition) -> int:
        """Transaction ids assigned since ``earlier``: 0 when nothing was written in between."""
        return self.next_xid - earlier.next_xid


def source_position(settings: LakePulseSettings) -> SourcePosition:
    rows, _ = _source_rows(
        settings,
        "SELECT pg_current_wal_insert_lsn()::text AS lsn,"
        " pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid",
    )
    return SourcePosition(str(rows[0]["lsn"]), int(rows[0]["next_xid"]))


def silver_checks(settings: LakePulseSettings) -> Callable[[], list[Check]]:
    """Read the source now; the returned function compares silver with that reading."""
    sources = {}
    for schema, table in PUBLISHED_TABLES:
        rows, columns = _source_rows(settings, f"SELECT * FROM {schema}.{table}")
        sources[table] = (rows, columns, _json_columns(settings, schema, table))

    def run() -> list[Check]:
        checks = []
        for table, (rows, columns, json_columns) in sources.items():
            lake = _lake_rows(settings, "silver", table)
            if lake is None:
                checks.append(Check("silver", table, len(rows), 0, problem="silver table missing"))
                continue
            missing = [c for c in columns if lake and c not in lake[0]]
            check = compare(
                "silver", table, rows, lake, PRIMARY_KEYS[table], columns, json_columns=json_columns
            )
            if missing:
                check.problem = f"columns missing in silver: {', '.join(missing)}"
            checks.append(check)
        return checks

    return run


GOLD_MARTS: dict[str, tuple[Sequence[str], Sequence[str]]] = {
    "fact_sales": (
        ("order_date", "region", "product_category"),
        ("total_orders", "total_revenue", "avg_order_value", "unique_customers"),
    ),
    "customer_analytics": (
        ("customer_id",),
        (
            "first_order_date",
            "last_order_date",
            "order_count",
            "lifetime_value",
            "avg_order_value",
            "recency_days",
        ),
    ),
    "operational_reports": (
        ("stock_item_id",),
        ("quantity_on_hand", "reorder_level", "needs_reorder", "reorder_quantity", "stock_value"),
    ),
}


def gold_checks(settings: LakePulseSettings) -> Callable[[], list[Check]]:
    daily = [{**r, "order_date": r.pop("sale_date")} for r in ground_truth.daily_sales(settings)]
    inventory = ground_truth.inventory_reorder(settings)
    analytics_cache: dict[dt.date, list[Row]] = {}

    def run() -> list[Check]:
        checks = []
        for mart, (keys, columns) in GOLD_MARTS.items():
            lake = _lake_rows(settings, "gold", mart)
            if lake is None:
                checks.append(Check("gold", mart, 0, 0, problem="gold table missing"))
                continue
            if mart == "customer_analytics":
                as_of = max((r["as_of_date"] for r in lake), default=dt.datetime.now(dt.UTC).date())
                if as_of not in analytics_cache:
                    analytics_cache[as_of] = ground_truth.customer_analytics(settings, as_of)
                expected = analytics_cache[as_of]
            else:
                expected = daily if mart == "fact_sales" else inventory
            checks.append(compare("gold", mart, expected, lake, keys, columns))
        return checks

    return run


def reconcile(
    settings: LakePulseSettings, *, layers: Sequence[str] = ("silver", "gold"), timeout_s: float = 120.0
) -> tuple[list[Check], SourcePosition, SourcePosition]:
    """Compare until all match or the timeout expires; returns the checks, source positions before/after."""
    before = source_position(settings)
    runners = []
    if "silver" in layers:
        runners.append(silver_checks(settings))
    if "gold" in layers:
        runners.append(gold_checks(settings))
    deadline = time.monotonic() + timeout_s
    while True:
        checks = [check for runner in runners for check in runner()]
        if all(c.ok for c in checks) or time.monotonic() > deadline:
            return checks, before, source_position(settings)
        time.sleep(2.0)  # the pipeline is still applying changes: look again
