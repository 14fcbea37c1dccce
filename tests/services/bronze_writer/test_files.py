"""File ingestion on real Spark, Delta and Kafka: CSV and JSON lines, re-runs and bad rows."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from lakepulse_bronze_writer.config import BronzeWriterSettings
from lakepulse_bronze_writer.envelope import AUDIT_TABLE, QUARANTINE_TABLE
from lakepulse_bronze_writer.files import ingest_files, parse_csv, parse_json_lines
from tests.services.bronze_writer.bronze_helpers import ControlReader, bronze

CSV_TEXT = 'id,name,amount\n1,"Tailspin, Toys",10.50\n2,Wingtip,\n3,too,many,fields\n4,"multi\nline",7\n'
JSON_TEXT = '{"id": 1, "name": "a"}\n\n{"id": 2, "name": "b"}\nnot json\n[1, 2]\n{"id": 3, "amount": 1.50}\n'


@pytest.mark.unit
def test_csv_rows_keep_text_values_and_report_line_numbers() -> None:
    parsed = parse_csv(CSV_TEXT.encode().splitlines(keepends=True))
    assert [(orjson.loads(after), line) for after, _, line in parsed.good] == [
        ({"id": "1", "name": "Tailspin, Toys", "amount": "10.50"}, 2),
        ({"id": "2", "name": "Wingtip", "amount": ""}, 3),
        ({"id": "4", "name": "multi\nline", "amount": "7"}, 5),
    ]
    assert [(reason, line) for reason, _, _, line in parsed.bad] == [("csv_field_count_mismatch", 4)]
    assert parsed.good[2][1] == b'4,"multi\nline",7\n'


@pytest.mark.unit
def test_json_lines_are_kept_verbatim_and_bad_lines_reported() -> None:
    parsed = parse_json_lines(JSON_TEXT.encode().splitlines(keepends=True))
    assert [(after, line) for after, _, line in parsed.good] == [
        ('{"id": 1, "name": "a"}', 1),
        ('{"id": 2, "name": "b"}', 3),
        ('{"id": 3, "amount": 1.50}', 6),
    ]
    assert [(reason, line) for reason, _, _, line in parsed.bad] == [
        ("not_json", 4),
        ("not_a_json_object", 5),
    ]


@pytest.mark.integration
def test_csv_and_json_files_land_once_with_bad_rows_in_quarantine(
    spark: SparkSession, bronze_settings: BronzeWriterSettings, producer: Producer, tmp_path: Path
) -> None:
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text(CSV_TEXT)
    json_file = tmp_path / "drop" / "customers.jsonl"
    json_file.parent.mkdir()
    json_file.write_text(JSON_TEXT)
    control = ControlReader(bronze_settings)
    try:
        first = ingest_files(bronze_settings, csv_file, "customers", spark=spark, producer=producer)
        second = ingest_files(bronze_settings, json_file.parent, "customers", spark=spark, producer=producer)
        again = ingest_files(bronze_settings, csv_file, "customers", spark=spark, producer=producer)

        assert [(r.rows, r.quarantined, r.skipped) for r in first + second] == [(3, 1, False), (3, 2, False)]
        assert again[0].skipped and again[0].sha256 == first[0].sha256
        rows = bronze(spark, bronze_settings, "customers").collect()
        assert len(rows) == 6
        assert {r["op"] for r in rows} == {"r"} and {r["source_connector"] for r in rows} == {"file"}
        assert {r["_topic"] for r in rows} == {None}
        by_line = {(Path(r["_source_file"]).name, r["_source_line"]): r for r in rows}
        assert orjson.loads(by_line[("customers.csv", 2)]["after"])["name"] == "Tailspin, Toys"
        assert by_line[("customers.jsonl", 6)]["after"] == '{"id": 3, "amount": 1.50}'
        assert by_line[("customers.csv", 2)]["_source_file_sha256"] == first[0].sha256

        quarantined = {
            (Path(r["_source_file"]).name, r["_source_line"], r["_reason"], r["_target_table"])
            for r in bronze(spark, bronze_settings, QUARANTINE_TABLE).collect()
        }
        assert quarantined == {
            ("customers.csv", 4, "csv_field_count_mismatch", "customers"),
            ("customers.jsonl", 4, "not_json", "customers"),
            ("customers.jsonl", 5, "not_a_json_object", "customers"),
        }
        assert bronze(spark, bronze_settings, AUDIT_TABLE).where("source = 'file'").count() == 2
        versions = control.wait_for_versions("customers", 1)
        assert versions == [0, 1]
        assert control.wait_for_versions(QUARANTINE_TABLE, 1) == [0, 1]
        customer_events = [e for e in control.events if e.table == "customers"]
        assert [e.rows.written for e in customer_events if e.rows] == [3, 3]
        assert customer_events[0].details["file_sha256"] == first[0].sha256
    finally:
        control.close()
