"""Commit infos and versions read from the Delta log through the JVM, without a Spark job."""

import orjson
import pytest

from lakepulse_common.delta_log import CommitInfo, commit_infos, latest_version

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_commit_infos_match_the_tables_history(spark, tmp_path):
    uri = (tmp_path / "orders").as_uri()
    assert latest_version(spark, uri) == -1
    assert list(commit_infos(spark, uri, 0)) == []
    for i in range(3):
        (
            spark.range(5)
            .write.format("delta")
            .mode("append")
            .option("userMetadata", orjson.dumps({"batch": i}).decode())
            .save(uri)
        )
    from delta.tables import DeltaTable

    DeltaTable.forPath(spark, uri).optimize().executeCompaction()

    assert latest_version(spark, uri) == 3
    infos = list(commit_infos(spark, uri, 1))
    assert [(i.version, i.operation, i.user_metadata) for i in infos] == [
        (1, "WRITE", '{"batch":1}'),
        (2, "WRITE", '{"batch":2}'),
        (3, "OPTIMIZE", None),
    ]
    assert infos[0].operation_metrics["numOutputRows"] == "5"
    assert infos[2].operation_metrics["numRemovedFiles"] == "3"
    (first,) = commit_infos(spark, uri, 0, 0)
    assert isinstance(first, CommitInfo)
    assert (first.version, first.user_metadata) == (0, '{"batch":0}')
    assert list(commit_infos(spark, uri, 4)) == []
