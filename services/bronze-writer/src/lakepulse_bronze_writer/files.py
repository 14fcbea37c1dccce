"""File ingestion (the seed's batch path): CSV and JSON-lines files into the bronze table shape.

Each file becomes snapshot-style rows (``op = 'r'``, ``source_connector = 'file'``) with the file's
path, line number and SHA-256 in ``_source_file``/``_source_line``/``_source_file_sha256``; values are
kept as text (CSV cells become a JSON object of strings, JSON lines are stored verbatim). A file is
idempotent by checksum: its appends carry ``txnAppId = lakepulse-file:<sha256>:<table>``, and a file
whose checksum is already in the table is skipped. Bad rows go to ``_quarantine`` with line numbers.
Files are parsed on the driver: this path is for batch drops of modest size, not the CDC stream.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from confluent_kafka import Producer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakepulse_bronze_writer import delta_io
from lakepulse_bronze_writer.audit import AuditContext, audit_frame
from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.control import ControlDeliveryError, event_for_commit
from lakepulse_bronze_writer.envelope import AUDIT_TABLE, QUARANTINE_TABLE
from lakepulse_bronze_writer.layout import DATA_LAYOUT, QUARANTINE_LAYOUT, project
from lakepulse_bronze_writer.stats import BatchStats, TableStats
from lakepulse_common.storage import table_uri, validate_table_name
from lakepulse_common.topics import TopicNames

log = logging.getLogger(__name__)

CSV_SUFFIXES = frozenset({".csv"})
JSON_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson"})
_GOOD_DDL = "after STRING, _raw_value BINARY, _source_line BIGINT"
_BAD_DDL = "_reason STRING, _error_detail STRING, _raw_value BINARY, _source_line BIGINT"


@dataclass
class ParsedFile:
    good: list[tuple[str, bytes, int]] = field(default_factory=list)
    bad: list[tuple[str, str, bytes, int]] = field(default_factory=list)


@dataclass(frozen=True)
class FileResult:
    path: Path
    sha256: str
    rows: int
    quarantined: int
    skipped: bool
    versions: dict[str, list[int]]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _decoded_lines(raw_lines: list[bytes], parsed: ParsedFile, consumed: list[int]) -> Iterator[str]:
    for number, raw in enumerate(raw_lines, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            parsed.bad.append(("not_utf8", str(exc), raw, number))
            continue
        consumed.append(number)
        yield text.lstrip("\ufeff") if number == 1 else text


def parse_csv(raw_lines: list[bytes]) -> ParsedFile:
    """Header row first; each record becomes ``{header: cell}`` (cells stay strings)."""
    parsed = ParsedFile()
    consumed: list[int] = []
    reader = csv.reader(_decoded_lines(raw_lines, parsed, consumed))
    header: list[str] | None = None
    mark = 0
    for record in reader:
        numbers, mark = consumed[mark:], len(consumed)
        if not record or not numbers:
            continue
        first, last = numbers[0], numbers[-1]
        raw = b"".join(raw_lines[first - 1 : last])
        if header is None:
            header = record
            continue
        if len(record) != len(header):
            detail = f"{len(record)} fields, header has {len(header)}"
            parsed.bad.append(("csv_field_count_mismatch", detail, raw, first))
            continue
        parsed.good.append((orjson.dumps(dict(zip(header, record, strict=True))).decode(), raw, first))
    return parsed


def parse_json_lines(raw_lines: list[bytes]) -> ParsedFile:
    """One JSON object per line, stored verbatim in ``after``."""
    parsed = ParsedFile()
    for number, raw in enumerate(raw_lines, 1):
        text = raw.strip()
        if not text:
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            parsed.bad.append(("not_json", str(exc), raw, number))
            continue
        if not isinstance(value, dict):
            parsed.bad.append(("not_a_json_object", type(value).__name__, raw, number))
            continue
        parsed.good.append((text.decode("utf-8").lstrip("\ufeff"), raw, number))
    return parsed


def parse_file(path: Path) -> ParsedFile:
    raw_lines = path.read_bytes().splitlines(keepends=True)
    if path.suffix.lower() in CSV_SUFFIXES:
        return parse_csv(raw_lines)
    if path.suffix.lower() in JSON_SUFFIXES:
        return parse_json_lines(raw_lines)
    raise ValueError(f"unsupported file type {path.suffix!r}: use .csv, .json, .jsonl or .ndjson")


def files_under(path: Path) -> list[Path]:
    if path.is_dir():
        suffixes = CSV_SUFFIXES | JSON_SUFFIXES
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not path.is_file():
        raise FileNotFoundError(path)
    return [path]


class FileIngestor:
    """Writes parsed files into bronze and announces the commits (shares the SparkSession)."""

    def __init__(self, spark: SparkSession, settings: BronzeWriterSettings, producer: Producer) -> None:
        self._spark = spark
        self._settings = settings
        self._producer = producer
        self._topics = TopicNames.from_settings(settings.kafka)

    def _uri(self, table: str) -> str:
        return table_uri(self._settings.lake_root, "bronze", table)

    def already_ingested(self, table: str, sha256: str) -> bool:
        uri = self._uri(table)
        if not delta_io.table_exists(self._spark, uri):
            return False
        found = (
            self._spark.read.format("delta").load(uri).where(F.col("_source_file_sha256") == sha256).limit(1)
        )
        return bool(found.collect())

    def _frames(
        self, path: Path, table: str, sha256: str, parsed: ParsedFile, now: datetime
    ) -> tuple[DataFrame, DataFrame]:
        common = {
            "_source_file": F.lit(str(path.resolve())),
            "_source_file_sha256": F.lit(sha256),
            "_ingested_at": F.lit(now),
            "_ingest_date": F.lit(now.date()),
        }
        good = self._spark.createDataFrame(parsed.good, _GOOD_DDL).withColumns(
            {
                **common,
                "op": F.lit("r"),
                "source_connector": F.lit("file"),
                "source_name": F.lit(path.name),
                "source_table": F.lit(table),
                "source_ts_ms": F.lit(int(path.stat().st_mtime * 1000)),
                "ts_ms": F.lit(int(now.timestamp() * 1000)),
                "source_snapshot": F.lit("true"),
                "_is_duplicate": F.lit(False),
                "_schema_wrapped": F.lit(False),
            }
        )
        bad = self._spark.createDataFrame(parsed.bad, _BAD_DDL).withColumns(
            {**common, "_target_table": F.lit(table)}
        )
        return project(good, DATA_LAYOUT), project(bad, QUARANTINE_LAYOUT)

    def ingest(self, path: Path, table: str) -> FileResult:
        validate_table_name(table)
        sha256 = sha256_of(path)
        if self.already_ingested(table, sha256):
            log.info("file %s (sha256 %s) already in bronze.%s: skipped", path, sha256[:12], table)
            return FileResult(path, sha256, 0, 0, True, {})
        started_at = datetime.now(UTC)
        parsed = parse_file(path)
        good, bad = self._frames(path, table, sha256, parsed, started_at)
        details = {"file": str(path.resolve()), "file_sha256": sha256}
        before = {
            t: delta_io.latest_version(self._spark, self._uri(t))
            for t in (QUARANTINE_TABLE, table, AUDIT_TABLE)
        }
        tables: dict[str, TableStats] = {}
        # Quarantine first: a crash between the two appends re-runs both, and the txn id skips the first.
        if parsed.bad:
            q = tables[QUARANTINE_TABLE] = TableStats(QUARANTINE_TABLE, rows=len(parsed.bad))
            q.kinds["quarantine"] = len(parsed.bad)
            self._append(bad, QUARANTINE_TABLE, sha256, q, details)
        stats = tables[table] = TableStats(
            table, rows=len(parsed.good), quarantined_for_table=len(parsed.bad)
        )
        stats.kinds["data"] = len(parsed.good)
        if parsed.good:
            self._append(good, table, sha256, stats, details)
        else:
            del tables[table]
        reasons = Counter(reason for reason, *_ in parsed.bad)
        batch = BatchStats(
            tables=tables,
            input_rows=len(parsed.good) + len(parsed.bad),
            kinds=Counter({"data": len(parsed.good), "quarantine": len(parsed.bad)}),
            reasons=reasons,
            missing_source_ts=0,
            missing_tx_id=len(parsed.good),
            schema_wrapped=0,
            snapshot_rows=len(parsed.good),
            offset_gaps=0,
            min_kafka_ts=None,
            max_kafka_ts=None,
        )
        audit_ctx = AuditContext(
            -1, "file", f"lakepulse-file:{sha256}", started_at, datetime.now(UTC), 0, str(path), sha256
        )
        audit_meta = TableStats(AUDIT_TABLE, rows=1)
        self._append(audit_frame(self._spark, batch, audit_ctx), AUDIT_TABLE, sha256, audit_meta, details)
        versions = self._announce({t: before[t] for t in [*tables, AUDIT_TABLE]}, sha256)
        log.info(
            "ingested %s into bronze.%s: %d rows, %d quarantined",
            path,
            table,
            len(parsed.good),
            len(parsed.bad),
        )
        return FileResult(path, sha256, len(parsed.good), len(parsed.bad), False, versions)

    def _append(
        self, df: DataFrame, table: str, sha256: str, stats: TableStats, details: dict[str, str]
    ) -> None:
        meta = stats.commit_metadata(-1, {})
        meta["details"] = {**details, "kinds": dict(stats.kinds)}
        delta_io.append(
            df, self._uri(table), app_id=f"lakepulse-file:{sha256}:{table}", txn_version=0, metadata=meta
        )

    def _announce(self, tables: dict[str, int], sha256: str) -> dict[str, list[int]]:
        """Announce this file's commits (found by checksum in the recent history of each table)."""
        versions: dict[str, list[int]] = {}
        errors: list[str] = []
        for table, before in tables.items():
            for commit in delta_io.commits_after(self._spark, self._uri(table), before):
                if (commit.metadata or {}).get("details", {}).get("file_sha256") != sha256:
                    continue
                event = event_for_commit(table, commit)
                self._producer.produce(
                    self._topics.control,
                    key=event.key,
                    value=event.to_bytes(),
                    on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
                )
                versions.setdefault(table, []).append(commit.version)
        remaining = self._producer.flush(self._settings.bronze.control_flush_timeout_s)
        if remaining or errors:
            raise ControlDeliveryError(
                f"file commit events not delivered ({remaining} pending): {errors[:3]}"
            )
        return versions


def ingest_files(
    settings: BronzeWriterSettings,
    path: Path | str,
    table: str,
    *,
    spark: SparkSession | None = None,
    producer: Producer | None = None,
) -> list[FileResult]:
    """Ingest a file, or every CSV/JSON file under a directory, into ``bronze.<table>``."""
    from lakepulse_common.kafka import create_producer
    from lakepulse_common.spark import build_spark_session

    session = spark or build_spark_session(settings, "lakepulse-ingest-files")
    own_producer = producer or create_producer(settings.kafka, "lakepulse-ingest-files")
    ingestor = FileIngestor(session, settings, own_producer)
    return [ingestor.ingest(file, table) for file in files_under(Path(path))]
