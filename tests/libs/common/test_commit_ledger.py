"""The commit ledger: a single writer's idempotence marks, kept in memory and found again in the log."""

import time

import orjson
import pytest

from lakepulse_common.commit_ledger import CommitLedger, marked_version, txn_marker


def _user_metadata(app_id: str, version: int) -> str:
    return orjson.dumps({"lakepulse": {"rows": 5, **txn_marker(app_id, version)}}).decode()


def test_marked_version_reads_only_this_apps_mark():
    assert marked_version(_user_metadata("a", 7), "a") == 7
    assert marked_version(_user_metadata("a", 7), "b") is None
    assert marked_version(None, "a") is None
    assert marked_version("not json", "a") is None
    assert marked_version('{"lakepulse": {"txn": {"app_id": "a", "version": "7"}}}', "a") is None
    assert marked_version('{"other": {"txn": {"app_id": "a", "version": 7}}}', "a") is None


@pytest.mark.integration
@pytest.mark.slow
def test_ledger_finds_the_newest_mark_behind_foreign_commits(spark, tmp_path):
    uri = (tmp_path / "orders").as_uri()
    assert CommitLedger(spark).committed_version(uri, "a") == -1  # no table yet
    for version in range(4):
        (
            spark.range(5)
            .write.format("delta")
            .mode("append")
            .option("userMetadata", _user_metadata("a", version))
            .save(uri)
        )
    b_commit = _user_metadata("b", 0)
    spark.range(1).write.format("delta").mode("append").option("userMetadata", b_commit).save(uri)
    from delta.tables import DeltaTable

    DeltaTable.forPath(spark, uri).optimize().executeCompaction()

    ledger = CommitLedger(spark, scan_window=2)  # the mark is three commits back: two log windows
    assert ledger.committed_version(uri, "a") == 3
    assert ledger._known[(uri, "b")] == 0  # passed on the way to a's mark: no second scan for b
    assert ledger.committed_version(uri, "b") == 0
    assert ledger.committed_version(uri, "c") == -1

    # The newest commit (OPTIMIZE) is older than the bound: the scan stops before any mark.
    future_ms = int((time.time() + 3600) * 1000)
    assert CommitLedger(spark).committed_version(uri, "a", not_before_ms=future_ms) == -1

    ledger.record(uri, "a", 9)
    assert ledger.committed_version(uri, "a") == 9  # from memory: the log says 3
    ledger.forget(uri, "a")
    assert ledger.committed_version(uri, "a") == 3

    # write_once: a committed version is not written again; a failed write is asked of the log again.
    commits: list[dict] = []
    assert not ledger.write_once(uri, "a", 3, commits.append)
    assert commits == []

    def failing(marker: dict) -> None:
        raise RuntimeError("the commit may or may not have landed")

    with pytest.raises(RuntimeError):
        ledger.write_once(uri, "a", 4, failing)
    assert (uri, "a") not in ledger._known

    def commit(marker: dict) -> None:
        metadata = orjson.dumps({"lakepulse": marker}).decode()
        spark.range(2).write.format("delta").mode("append").option("userMetadata", metadata).save(uri)

    assert ledger.write_once(uri, "a", 4, commit)
    assert CommitLedger(spark).committed_version(uri, "a") == 4
