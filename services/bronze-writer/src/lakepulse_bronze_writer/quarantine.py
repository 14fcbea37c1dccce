"""The ``_quarantine`` bronze table: every record bronze cannot accept, with its reason and position.

Reasons (``_reason``), decided columnar in :mod:`lakepulse_bronze_writer.envelope` or, for files,
in :mod:`lakepulse_bronze_writer.files`:

* ``not_json`` – the value is not JSON at all; ``envelope_schema_mismatch`` – JSON whose envelope
  fields have the wrong types; ``payload_not_json`` – a schema wrapper around a broken payload;
* ``missing_op``, ``missing_source``, ``missing_source_lsn``, ``missing_after``, ``missing_before``
  – envelope fields the op requires are absent; ``unknown_op`` – op outside c/r/u/d/t/m;
* ``key_not_json``, ``key_payload_mismatch`` – the Kafka key is not JSON, or a key field differs
  from the same field of ``after`` (``before`` for deletes);
* ``invalid_transaction_event``, ``unknown_topic``, ``tombstone_on_unknown_topic``;
* files: ``not_json``, ``not_a_json_object``, ``csv_field_count_mismatch``, ``not_utf8``.

Rows keep the raw bytes, the Kafka position (topic, partition, offset, key, headers) or the file
position (path, line, checksum), so they can be inspected and replayed.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakepulse_bronze_writer.layout import QUARANTINE_LAYOUT, project


def quarantine_frame(parsed: DataFrame) -> DataFrame:
    """Quarantined rows of a parsed batch in the quarantine layout."""
    return project(parsed.where(F.col("_kind") == "quarantine"), QUARANTINE_LAYOUT)
