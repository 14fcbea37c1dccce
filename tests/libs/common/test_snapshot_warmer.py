"""The snapshot warmer computes a table's newest snapshot state in the background."""

import pytest

from lakepulse_common import delta_log
from lakepulse_common.snapshot_warmer import SnapshotWarmer
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _state_computed(spark, uri) -> bool:
    return bool(delta_log.snapshot(spark, uri)._computedStateTriggered())


def test_warm_computes_the_state_of_the_newest_snapshot(spark, tmp_path):
    uri = (tmp_path / "facts").as_uri()
    spark.range(10).write.format("delta").save(uri)
    spark.range(5).write.format("delta").mode("append").save(uri)
    assert not _state_computed(spark, uri)  # a fresh commit leaves a snapshot without state

    warmer = SnapshotWarmer(spark)
    try:
        warmer.warm(uri)
        warmer.warm(uri)  # already queued: one computation
        wait_for(lambda: _state_computed(spark, uri), 60, "the snapshot state to be computed")
    finally:
        warmer.close()

    spark.range(1).write.format("delta").mode("append").save(uri)
    warmer.warm(uri)  # closed: ignored
    assert not _state_computed(spark, uri)
    assert delta_log.latest_version(spark, uri) == 2
