"""Which bronze columns carry Delta file statistics (pure)."""

from lakepulse_bronze_writer.layout import DATA_LAYOUT, PAYLOAD_COLUMNS, QUARANTINE_LAYOUT, stats_columns


def _dtypes(layout: dict[str, str]) -> list[tuple[str, str]]:
    """The layout as ``DataFrame.dtypes`` spells it (lower-case simple strings)."""
    return [(name, ddl.lower().replace(" ", "")) for name, ddl in layout.items()]


def test_payload_partition_and_unsupported_types_carry_no_statistics():
    indexed = stats_columns(_dtypes(DATA_LAYOUT), "_ingest_date")
    assert indexed[:2] == ["op", "source_lsn"]
    assert {"_key", "_topic", "_partition", "_offset", "_kafka_timestamp", "_batch_id"} <= set(indexed)
    assert not set(PAYLOAD_COLUMNS) & set(indexed)
    assert "_ingest_date" not in indexed
    assert "_is_duplicate" not in indexed and "_schema_wrapped" not in indexed  # boolean: Delta refuses


def test_quarantine_keeps_statistics_on_reason_and_position_only():
    indexed = stats_columns(_dtypes(QUARANTINE_LAYOUT), "_ingest_date")
    assert indexed[:2] == ["_reason", "_target_table"]
    assert "_error_detail" not in indexed and "_raw_value" not in indexed
