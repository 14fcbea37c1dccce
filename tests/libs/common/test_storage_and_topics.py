import re

import pytest

from lakepulse_common.storage import for_delta_rs, for_spark, local_path, table_uri
from lakepulse_common.topics import TopicNames

pytestmark = pytest.mark.unit


def test_table_uri_is_root_layer_table():
    assert table_uri("file:///lake/", "bronze", "orders") == "file:///lake/bronze/orders"
    assert table_uri("s3a://b/p", "gold", "fact_sales") == "s3a://b/p/gold/fact_sales"


@pytest.mark.parametrize("bad", ["../etc", "Orders", "a-b", "", "x/y"])
def test_table_names_cannot_escape_the_lake(bad):
    with pytest.raises(ValueError):
        table_uri("file:///lake", "silver", bad)


def test_source_layer_has_no_lake_location():
    with pytest.raises(ValueError):
        table_uri("file:///lake", "source", "orders")


def test_engine_specific_uris():
    assert local_path("file:///tmp/a%20b/x").as_posix() == "/tmp/a b/x"
    assert for_spark("s3://b/t") == "s3a://b/t"
    assert for_delta_rs("s3a://b/t") == "s3://b/t"
    assert for_delta_rs("file:///tmp/t") == "/tmp/t"


def test_cdc_pattern_matches_data_topics_but_not_the_transaction_topic():
    names = TopicNames("lakepulse")
    pattern = re.compile(names.cdc_pattern)
    assert pattern.fullmatch(names.cdc("orders"))
    assert not pattern.fullmatch(names.transaction)
    assert not pattern.fullmatch(names.control)
    assert names.table_of_cdc_topic("lakepulse.cdc.order_lines") == "order_lines"
    assert names.table_of_cdc_topic(names.transaction) is None
