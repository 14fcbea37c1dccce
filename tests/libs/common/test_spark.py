"""Spark from the one session factory reads Kafka and writes/reads Delta with time travel."""

import pytest

from lakepulse_common.kafka import TopicSpec, create_admin, create_producer, ensure_topics
from lakepulse_common.spark import (
    CODEGEN_FACTORY_MODE,
    delta_table_exists,
    interpreted_expressions,
    materialize_on_disk,
    release_materialized,
    session_conf,
)
from lakepulse_common.storage import table_uri

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_session_has_delta_and_small_machine_defaults(spark):
    conf = spark.sparkContext.getConf()
    assert "DeltaSparkSessionExtension" in conf.get("spark.sql.extensions")
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.adaptive.enabled") == "true"
    assert not conf.contains("spark.jars.packages")


def test_column_calls_make_no_debugging_round_trips(spark, monkeypatch):
    """With PySpark's DataFrame debugging on, `F.col` costs 13 gateway calls instead of 3."""
    from pyspark.sql import functions as F

    F.col("warm_up")
    client = spark.sparkContext._gateway._gateway_client
    sent: list[str] = []
    original = client.send_command

    def counting(command, *args, **kwargs):
        sent.append(command)
        return original(command, *args, **kwargs)

    monkeypatch.setattr(client, "send_command", counting)
    for i in range(10):
        F.col(f"c{i}")
    monkeypatch.undo()
    assert spark.conf.get("spark.python.sql.dataFrameDebugging.enabled") == "false"
    assert len(sent) <= 30, f"{len(sent)} gateway calls for 10 columns"


def _stored_rdds(spark) -> int:
    return len(spark.sparkContext._jsc.sc().getRDDStorageInfo())


def test_a_materialized_frame_is_computed_once_and_released_on_demand(spark):
    """Later jobs read the stored rows (the source is not recomputed); release drops the blocks."""
    from pyspark.sql import functions as F

    before = _stored_rdds(spark)
    computed = spark.sparkContext.accumulator(0)

    def count_rows(rows):
        for row in rows:
            computed.add(1)
            yield row

    numbers = spark.sparkContext.parallelize(range(1000), 2).map(lambda n: (n,))
    counted = spark.createDataFrame(numbers.mapPartitions(count_rows), "n INT")
    stored = materialize_on_disk(counted.withColumn("even", F.col("n") % 2 == 0))
    assert computed.value == 1000
    assert stored.where("even").count() == 500
    assert stored.agg(F.sum("n")).first()[0] == sum(range(1000))
    assert computed.value == 1000, "a job over the materialized frame recomputed its source"
    assert _stored_rdds(spark) == before + 1
    release_materialized(stored)
    assert _stored_rdds(spark) == before


def test_kafka_source_to_delta_with_time_travel(spark, lake_settings):
    topic = f"{lake_settings.kafka.topic_prefix}.spark"
    ensure_topics(create_admin(lake_settings.kafka), [TopicSpec(topic, 2, lake_settings.kafka.retention_ms)])
    producer = create_producer(lake_settings.kafka, "spark-test")
    for i in range(50):
        producer.produce(topic, key=str(i).encode(), value=f'{{"n": {i}}}'.encode())
    assert producer.flush(30) == 0

    frame = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", lake_settings.kafka.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
        .selectExpr("CAST(key AS STRING) AS k", "CAST(value AS STRING) AS v", "partition", "offset")
    )
    path = table_uri(lake_settings.lake_root, "bronze", "spark_smoke")
    frame.write.format("delta").save(path)
    frame.limit(10).write.format("delta").mode("append").save(path)

    assert spark.read.format("delta").load(path).count() == 60
    version_zero = spark.read.format("delta").option("versionAsOf", 0).load(path)
    assert version_zero.count() == 50
    assert sorted(int(r.k) for r in version_zero.select("k").collect()) == list(range(50))


def test_a_delta_log_without_a_commit_is_not_a_table(spark, tmp_path):
    uri = (tmp_path / "orders").as_uri()
    assert not delta_table_exists(spark, uri)
    # What a writer stopped during the table's first write leaves behind.
    (tmp_path / "orders" / "_delta_log" / "_staged_commits").mkdir(parents=True)
    assert not delta_table_exists(spark, uri)
    spark.range(3).write.format("delta").mode("append").save(uri)
    assert delta_table_exists(spark, uri)

    log_dir = tmp_path / "customers" / "_delta_log"
    log_dir.mkdir(parents=True)
    (log_dir / f"{10:020d}.checkpoint.parquet").touch()  # version 0's JSON removed by log cleanup
    assert delta_table_exists(spark, (tmp_path / "customers").as_uri())


def test_session_conf_applies_inside_the_block_and_restores_what_was_there(spark):
    spark.conf.set("spark.sql.shuffle.partitions", "3")
    spark.conf.unset(CODEGEN_FACTORY_MODE)
    with session_conf(spark, {"spark.sql.shuffle.partitions": "5"}), interpreted_expressions(spark):
        assert spark.conf.get("spark.sql.shuffle.partitions") == "5"
        assert spark.conf.get(CODEGEN_FACTORY_MODE) == "NO_CODEGEN"
        # Interpreted evaluation gives the compiled results.
        row = spark.range(10).selectExpr("sum(id * 2) AS s", "max(concat('k', id)) AS m").first()
        assert (row["s"], row["m"]) == (90, "k9")
    assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
    assert spark.conf.get(CODEGEN_FACTORY_MODE) == "FALLBACK"  # unset again: Spark's default
    with interpreted_expressions(spark, enabled=False):
        assert spark.conf.get(CODEGEN_FACTORY_MODE) == "FALLBACK"
