"""Unchanged TOASTed values survive updates: filled from the full old tuple, or Debezium's placeholder."""

from __future__ import annotations

import secrets

import pytest

from lakepulse_cdc_emitter.envelope import UNAVAILABLE_VALUE

from .cdc_helpers import EmitterThread, TopicReader, query

pytestmark = [pytest.mark.integration]


def test_unchanged_toast_column_is_never_null_downstream(cdc_settings, source):
    big = secrets.token_hex(12_000)  # 24 kB of incompressible text: stored out of line (TOAST)
    query(
        source,
        "CREATE SCHEMA sales;"
        " CREATE TABLE sales.documents (id int PRIMARY KEY, title text, body text);"
        " ALTER TABLE sales.documents REPLICA IDENTITY FULL;"
        " CREATE TABLE sales.drafts (id int PRIMARY KEY, title text, body text);",  # REPLICA IDENTITY DEFAULT
    )
    reader = TopicReader(cdc_settings)
    try:
        with EmitterThread(cdc_settings):
            query(source, "INSERT INTO sales.documents VALUES (1, 'v1', %s)", (big,))
            query(source, "INSERT INTO sales.drafts VALUES (1, 'v1', %s)", (big,))
            query(source, "UPDATE sales.documents SET title = 'v2' WHERE id = 1")  # body untouched
            query(source, "UPDATE sales.documents SET title = 'v3' WHERE id = 1")
            query(source, "UPDATE sales.drafts SET title = 'v2' WHERE id = 1")
            query(source, "DELETE FROM sales.documents WHERE id = 1")
            reader.poll_until(
                lambda _: (
                    len([r for r in reader.data("documents") if r.value]) == 4
                    and len([r for r in reader.data("drafts") if r.value]) == 2
                ),
                60,
                "the TOAST events",
            )
    finally:
        reader.close()
    toast_table = query(
        source, "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'sales.drafts'::regclass"
    )
    chunks = query(source, f"SELECT count(*) FROM {toast_table[0][0]}")[0][0]
    assert chunks > 0, "the body must be stored out of line (TOAST) for this test to mean anything"

    documents = [r.value for r in sorted(reader.data("documents"), key=lambda r: r.offset) if r.value]
    assert [e["op"] for e in documents] == ["c", "u", "u", "d"]
    for event in documents[1:3]:
        assert event["after"]["body"] == big, "unchanged TOAST value must be filled from the old tuple"
        assert event["before"]["body"] == big
    assert documents[3]["before"]["body"] == big

    drafts = [r.value for r in reader.data("drafts") if r.value]
    update = next(e for e in drafts if e["op"] == "u")
    assert update["after"]["title"] == "v2"
    # No full old tuple to fill it from: Debezium's placeholder.
    assert update["after"]["body"] == UNAVAILABLE_VALUE
