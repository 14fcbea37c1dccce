"""``seed``: bulk-load a deterministic WWI-shaped dataset with COPY.

The whole load is one transaction: either every table is filled or none is. ``seed`` refuses a
database whose source tables already hold rows (:class:`DatabaseNotEmptyError`) unless ``replace`` is
set, in which case the tables are truncated inside the same transaction — so a failed replace leaves the
old data in place. Rows stream from generators straight into ``COPY … FROM STDIN``; nothing is staged on
disk, and PostgreSQL parses one chunk while Python formats the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from psycopg2.extensions import cursor as PgCursor
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex, ExecutableDDLElement

from lakepulse_common.settings import LakePulseSettings
from lakepulse_oltp import reference_data as ref
from lakepulse_oltp import seed_orders, seed_rows
from lakepulse_oltp.catalog import PUBLISHED_TABLES, table
from lakepulse_oltp.database import connect
from lakepulse_oltp.errors import DatabaseNotEmptyError, InvalidWorkloadError
from lakepulse_oltp.migrations import require_head

log = logging.getLogger(__name__)

MAX_SCALE = 100.0
CHUNK_LINES = 4096
TRANSACTIONAL_TABLES = ("customers", "orders", "order_lines", "stock_item_holdings")
# Big tables load faster without per-row foreign-key triggers and index inserts: their foreign keys
# and secondary indexes are dropped and re-created (validated in bulk) inside the load transaction.
DEFERRED_TABLES = ("orders", "order_lines")

ProgressCallback = Callable[[str, int], None]


@dataclass
class SeedResult:
    scale: float
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def transactional_rows(self) -> int:
        return sum(self.rows.get(name, 0) for name in TRANSACTIONAL_TABLES)

    @property
    def rows_per_s(self) -> float:
        return self.total_rows / self.elapsed_s if self.elapsed_s else 0.0


class _CopySource:
    """A file-like object over a line generator, as ``copy_expert`` wants; counts what it hands out."""

    def __init__(self, lines: Iterable[str], on_chunk: Callable[[int], None]) -> None:
        self._lines: Iterator[str] = iter(lines)
        self._on_chunk = on_chunk
        self.count = 0

    def read(self, _size: int = -1, /) -> bytes:
        chunk = [line for _, line in zip(range(CHUNK_LINES), self._lines, strict=False)]
        if chunk:
            self.count += len(chunk)
            self._on_chunk(len(chunk))
        return "".join(chunk).encode()

    def readline(self, _size: int = -1, /) -> bytes:
        line = next(self._lines, "")
        if line:
            self.count += 1
        return line.encode()


def validate_seed_arguments(scale: float, seed: int) -> None:
    if not 0 < scale <= MAX_SCALE:
        raise InvalidWorkloadError(f"scale must be in (0, {MAX_SCALE:g}], got {scale}")
    if seed < 0:
        raise InvalidWorkloadError(f"seed must be a non-negative integer, got {seed}")


def source_row_counts(cur: PgCursor) -> dict[str, int]:
    """Exact row counts of every published table (used to refuse or to report)."""
    counts = {}
    for schema, name in PUBLISHED_TABLES:
        cur.execute(f"SELECT count(*) FROM {schema}.{name}")
        counts[name] = int(cur.fetchone()[0])  # type: ignore[index]
    return counts


def _copy(cur: PgCursor, schema: str, name: str, lines: Iterable[str], advance: ProgressCallback) -> int:
    columns = ", ".join(column.name for column in table(schema, name).columns)
    source = _CopySource(lines, lambda n: advance(name, n))
    cur.copy_expert(f"COPY {schema}.{name} ({columns}) FROM STDIN", source, size=1 << 20)
    return source.count


def _ddl(element: ExecutableDDLElement) -> str:
    return str(element.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]


@contextmanager
def _without_foreign_keys_and_indexes(cur: PgCursor, schema: str, name: str) -> Iterator[None]:
    """Drop the table's foreign keys and secondary indexes, and put them back (validating) on exit."""
    model = table(schema, name)
    foreign_keys = sorted(model.foreign_key_constraints, key=lambda fk: str(fk.name))
    indexes = sorted(model.indexes, key=lambda ix: str(ix.name))
    for fk in foreign_keys:
        cur.execute(_ddl(DropConstraint(fk)))
    for index in indexes:
        cur.execute(_ddl(DropIndex(index)))
    yield
    for index in indexes:
        cur.execute(_ddl(CreateIndex(index)))
    for fk in foreign_keys:
        cur.execute(_ddl(AddConstraint(fk)))


def _reset_sequences(cur: PgCursor) -> None:
    """Serial ids continue after the generated ones, so simulated inserts never collide."""
    for schema, name in PUBLISHED_TABLES:
        for column in table(schema, name).primary_key.columns:
            cur.execute("SELECT pg_get_serial_sequence(%s, %s)", (f"{schema}.{name}", column.name))
            sequence = cur.fetchone()[0]  # type: ignore[index]
            if sequence:
                cur.execute(
                    f"SELECT setval(%s, coalesce(max({column.name}), 0) + 1, false) FROM {schema}.{name}",
                    (sequence,),
                )


def _table_streams(plan: seed_rows.SeedPlan) -> Iterator[tuple[str, str, Iterable[str]]]:
    """(schema, table, lines) in foreign-key order; later generators use state built by earlier ones."""
    yield "application", "countries", seed_rows.countries()
    yield "application", "state_provinces", seed_rows.state_provinces()
    yield "application", "cities", seed_rows.cities(plan)
    yield "application", "people", seed_rows.people(plan.seed)
    yield "sales", "customer_categories", seed_rows.named_rows(ref.CUSTOMER_CATEGORIES)
    yield "sales", "buying_groups", seed_rows.named_rows(ref.BUYING_GROUPS)
    yield "sales", "customers", seed_rows.customers(plan)
    yield "warehouse", "suppliers", seed_rows.suppliers()
    yield "warehouse", "colors", seed_rows.named_rows(ref.COLORS)
    yield "warehouse", "package_types", seed_rows.named_rows(ref.PACKAGE_TYPES)
    yield "warehouse", "stock_groups", seed_rows.named_rows(ref.STOCK_GROUPS)
    catalog = seed_rows.stock_catalog(plan)
    yield "warehouse", "stock_items", seed_rows.stock_items(plan, catalog)
    yield "warehouse", "stock_item_stock_groups", seed_rows.stock_item_stock_groups(catalog)
    yield "warehouse", "stock_item_holdings", seed_rows.stock_item_holdings(plan, catalog)
    book = seed_orders.new_order_book()
    yield "sales", "orders", seed_orders.orders(plan, book)
    yield "sales", "order_lines", seed_orders.order_lines(plan, book, catalog)


def _expected_rows(plan: seed_rows.SeedPlan) -> int:
    return plan.orders + plan.expected_order_lines + plan.customers + 2 * plan.stock_items + plan.cities


def is_seeded(settings: LakePulseSettings) -> bool:
    """Whether the source already holds orders (the demo and benchmarks then reuse it)."""
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT EXISTS (SELECT 1 FROM sales.orders)")
            row = cur.fetchone()
    finally:
        conn.close()
    return bool(row and row[0])


def seed(
    settings: LakePulseSettings,
    scale: float = 1.0,
    seed: int = 42,
    *,
    replace: bool = False,
    progress: bool | None = None,
) -> SeedResult:
    """Load the dataset for ``(scale, seed)``; scale 1.0 is ≥ 1,000,000 transactional rows.

    ``progress=None`` shows a Rich progress bar only when stderr is a terminal.
    """
    validate_seed_arguments(scale, seed)
    require_head(settings)
    plan = seed_rows.SeedPlan.for_scale(scale, seed)
    result = SeedResult(scale=scale, seed=seed)
    console = Console(stderr=True)
    show = console.is_terminal if progress is None else progress
    bar = Progress(
        TextColumn("[bold]seed[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
    )
    task = bar.add_task("rows", total=_expected_rows(plan))

    def advance(name: str, n: int) -> None:
        bar.update(task, advance=n, description=name)

    started = time.perf_counter()
    conn = connect(settings)
    try:
        with bar, conn, conn.cursor() as cur:
            existing = {name: n for name, n in source_row_counts(cur).items() if n}
            if existing and not replace:
                raise DatabaseNotEmptyError(
                    f"{settings.postgres.redacted_dsn()} already holds source rows ({existing}); "
                    "seed into an empty database or pass --replace to truncate and reload"
                )
            if existing:
                names = ", ".join(f"{schema}.{name}" for schema, name in PUBLISHED_TABLES)
                cur.execute(f"TRUNCATE {names} RESTART IDENTITY")
            for schema, name, lines in _table_streams(plan):
                if name in DEFERRED_TABLES:
                    with _without_foreign_keys_and_indexes(cur, schema, name):
                        result.rows[name] = _copy(cur, schema, name, lines, advance)
                else:
                    result.rows[name] = _copy(cur, schema, name, lines, advance)
                log.info("seeded %s.%s rows=%d", schema, name, result.rows[name])
            _reset_sequences(cur)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    finally:
        conn.close()
    result.elapsed_s = time.perf_counter() - started
    return result
