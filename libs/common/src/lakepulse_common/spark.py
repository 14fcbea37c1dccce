"""The one SparkSession factory: Delta + Kafka jars from the Maven step, small-machine defaults.

Jars come from ``<state_dir>/jars/spark`` (filled by ``make setup``); those the pyspark wheel already
ships are skipped, so the classpath never carries two versions of Spark, Hadoop or the codecs.
No Ivy (``spark.jars.packages``) download happens at run time.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakepulse_common.errors import ConfigurationError
from lakepulse_common.settings import LakePulseSettings
from lakepulse_common.storage import for_spark, is_local, local_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-\d[\w.\-]*\.jar$")


def _artifact(jar: Path) -> str:
    match = _VERSIONED_JAR.match(jar.name)
    return match.group("artifact") if match else jar.stem


def pyspark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def extra_jars(jars_dir: Path) -> list[Path]:
    """The Maven-fetched jars that pyspark does not already bring."""
    if not jars_dir.is_dir():
        raise ConfigurationError(f"Spark jars missing in {jars_dir}: run `make setup`")
    bundled = {_artifact(jar) for jar in pyspark_jars_dir().glob("*.jar")}
    jars = sorted(jar for jar in jars_dir.glob("*.jar") if _artifact(jar) not in bundled)
    if not any(jar.name.startswith("delta-spark") for jar in jars):
        raise ConfigurationError(f"no delta-spark jar in {jars_dir}: run `make setup`")
    return jars


def spark_conf(settings: LakePulseSettings, app_name: str) -> dict[str, str]:
    spark = settings.spark
    assert spark.jars_dir is not None  # resolved by the settings validator
    jars = extra_jars(spark.jars_dir)
    classpath = os.pathsep.join(str(jar) for jar in jars)
    cores = os.cpu_count() or 2
    conf = {
        "spark.app.name": app_name,
        "spark.master": spark.master,
        "spark.driver.memory": spark.driver_memory,
        "spark.jars": ",".join(str(jar) for jar in jars),
        "spark.driver.extraClassPath": classpath,
        "spark.executor.extraClassPath": classpath,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(spark.shuffle_partitions or cores),
        "spark.default.parallelism": str(spark.shuffle_partitions or cores),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": str(spark.ui_enabled).lower(),
        "spark.ui.port": str(spark.ui_port),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.streaming.metricsEnabled": "true",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.databricks.delta.optimizeWrite.enabled": "true",
        "spark.databricks.delta.autoCompact.enabled": "false",
        # Delta's default of 50 snapshot partitions dominates small commits on a 2-core machine.
        "spark.databricks.delta.snapshotPartitions": "2",
        # PySpark's DataFrame debugging wraps every Column/DataFrame call in extra py4j round trips
        # (13 instead of 3 for `F.col`), one of which looks a class up through the gateway's star
        # imports: a class-path miss, a scan of ~300 jars, per import. It only adds the Python call
        # site to error messages; measured in docs/silver-processor.md ("Python-side cost").
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        # INT96 timestamps (Spark's default) break delta-rs/DuckDB readers outside 1677–2262.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.warehouse.dir": str(settings.state_dir / "spark-warehouse"),
        "spark.driver.extraJavaOptions": (
            f"-Dderby.system.home={settings.state_dir / 'derby'} {spark.jvm_options}".strip()
        ),
    }
    lake = settings.lake
    if lake.s3_endpoint:
        conf |= {
            "spark.hadoop.fs.s3a.endpoint": lake.s3_endpoint,
            "spark.hadoop.fs.s3a.path.style.access": str(lake.s3_path_style_access).lower(),
            "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        }
        if lake.s3_access_key and lake.s3_secret_key:
            conf["spark.hadoop.fs.s3a.access.key"] = lake.s3_access_key.get_secret_value()
            conf["spark.hadoop.fs.s3a.secret.key"] = lake.s3_secret_key.get_secret_value()
    return conf | spark.extra_conf


def java_class(spark: SparkSession, fqn: str) -> Any:
    """The JVM class ``fqn``, looked up directly.

    ``spark._jvm.org.apache…`` walks the name one package at a time, and py4j tries each step as a
    class first, through every star import of the gateway: a class-path miss (a scan of every jar)
    per try. A class named in full is found in one step.
    """
    from py4j.java_gateway import JavaClass

    gateway = spark.sparkContext._gateway
    assert gateway is not None
    return JavaClass(fqn, gateway._gateway_client)


# Loggers whose warnings are expected on every batch, so they are logged at ERROR only:
_EXPECTED_WARNINGS = (
    # A broadcast hint on a MERGE source is used by the join that finds touched files and logged as
    # "not supported" by the outer join that rewrites them, once per MERGE.
    "org.apache.spark.sql.catalyst.analysis.HintErrorLogger",
    # Delta merges a change-feed read's options into a case-insensitive map that already holds them
    # ("Converting duplicated key readChangeFeed"), three lines per read.
    "org.apache.spark.sql.util.CaseInsensitiveStringMap",
    # materialize_on_disk truncates lineage on purpose ("was locally checkpointed ... cannot be
    # recomputed after unpersisting").
    "org.apache.spark.rdd.MapPartitionsRDD",
)


def build_spark_session(settings: LakePulseSettings, app_name: str) -> SparkSession:
    """Get or create the process's SparkSession. Call once per process and keep it."""
    from pyspark.sql import SparkSession

    if settings.java_home is not None:
        os.environ.setdefault("JAVA_HOME", str(settings.java_home))
    # glibc gives every thread that mallocs its own 64 MiB arena; a JVM with dozens of threads then
    # holds hundreds of MiB of mostly idle arenas. The JVM inherits this when pyspark launches it.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    builder = SparkSession.builder
    for key, value in spark_conf(settings, app_name).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    configurator = java_class(session, "org.apache.logging.log4j.core.config.Configurator")
    error = java_class(session, "org.apache.logging.log4j.Level").ERROR
    for logger in _EXPECTED_WARNINGS:
        configurator.setLevel(logger, error)
    return session


_COMMITTED_LOG_ENTRY = re.compile(r"^(\d{20}\.(json|checkpoint\..*)|_last_checkpoint)$")


def delta_table_exists(spark: SparkSession | None, uri: str) -> bool:
    """Whether ``uri`` holds a Delta table with at least one committed version.

    A ``_delta_log`` directory alone is not a table: Delta creates it (with ``_staged_commits``)
    before the first commit, so a writer stopped during a table's first write leaves one behind,
    and every reader would then fail on it. Local tables are checked without Spark (``spark`` may
    be None); others through the session's Hadoop filesystem (s3a://).
    """
    if is_local(uri):
        log_path = local_path(uri) / "_delta_log"
        if (log_path / f"{0:020d}.json").is_file():
            return True
        return log_path.is_dir() and any(_COMMITTED_LOG_ENTRY.match(e.name) for e in log_path.iterdir())
    if spark is None:
        raise ConfigurationError(f"checking {uri} needs a SparkSession")
    hadoop_path = java_class(spark, "org.apache.hadoop.fs.Path")
    log_dir = hadoop_path(for_spark(uri).rstrip("/") + "/_delta_log")
    fs = log_dir.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if fs.exists(hadoop_path(log_dir, f"{0:020d}.json")):
        return True  # the common case, without listing the log
    if not fs.exists(log_dir):
        return False
    return any(_COMMITTED_LOG_ENTRY.match(status.getPath().getName()) for status in fs.listStatus(log_dir))


CODEGEN_FACTORY_MODE = "spark.sql.codegen.factoryMode"


@contextmanager
def session_conf(spark: SparkSession, conf: Mapping[str, str]) -> Iterator[None]:
    """Set runtime SQL settings for the jobs run inside the block, then put back what was there."""
    previous: dict[str, str | None] = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def interpreted_expressions(spark: SparkSession, enabled: bool = True) -> AbstractContextManager[None]:
    """Evaluate expressions without generating Java code for the jobs inside the block.

    Spark generates and compiles a class for every projection, predicate and aggregation a task
    creates; for a few hundred rows that costs far more than evaluating them: in a silver round of
    three small table batches, 53 % of the JVM's CPU samples were in code generation, 15 % in one
    regular expression that strips comments from the generated source. ``NO_CODEGEN`` is Spark's
    interpreted path for the same expressions (Spark's own tests run both); large inputs are faster
    compiled, so callers enable it per unit of work.
    """
    return session_conf(spark, {CODEGEN_FACTORY_MODE: "NO_CODEGEN"} if enabled else {})


def materialize_on_disk(df: DataFrame) -> DataFrame:
    """Compute ``df`` once into rows on local disk; later jobs over the result read those rows.

    For a frame several jobs read (a micro-batch parsed once, appended to several tables). A local
    checkpoint keeps Spark's binary rows as they are; ``persist`` builds the in-memory columnar cache
    (column builders, compression), which cost more than the parse itself: 100k parsed Debezium
    envelopes, parse alone 1.8 s, parse + ``persist(DISK_ONLY)`` 3.7 s, parse + local checkpoint
    2.0 s. The blocks are not replicated: losing an executor fails the jobs that read them, which the
    callers treat as any failed batch (retried from its source). Free them with
    :func:`release_materialized` when done.
    """
    from pyspark import StorageLevel

    return df.localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)


def release_materialized(df: DataFrame) -> None:
    """Drop the stored blocks of a local checkpoint (or a cached frame) now.

    ``DataFrame.unpersist`` only knows frames of the cache manager: on a local checkpoint it does
    nothing, and the checkpoint's blocks stay until the JVM's garbage collector reclaims the RDD.
    """
    plan = df._jdf.queryExecution().logical()
    if plan.getClass().getSimpleName() == "LogicalRDD":
        plan.rdd().unpersist(False)
    else:
        df.unpersist()


def release_unreachable_jvm_objects() -> int:
    """Collect Python's cyclic garbage, so the JVM objects it references can be collected too.

    Every PySpark DataFrame pins its JVM Dataset (plan, cached relation) through py4j until the
    Python object is freed. Objects caught in reference cycles (closures, futures, tracebacks) are
    freed only by Python's cyclic collector, which a long-lived service that allocates little runs
    rarely: the driver's old generation then fills with plans of finished batches. Call it once per
    unit of work (a micro-batch, a silver round, a gold build). Returns the objects collected.
    """
    return gc.collect()
