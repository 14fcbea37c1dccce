"""The driver's pure pieces: stage arguments per scale, JSON normalisation, medians, --scale parsing."""

import argparse

import pytest

from bench.run import as_mapping, median_of, parse_scales, stage_arguments

pytestmark = pytest.mark.unit


def test_scale_reaches_every_size_dependent_stage():
    assert stage_arguments("seed", 0.1, 1000, 120) == ["--scale", "0.1"]
    assert stage_arguments("bronze", 4, 1000, 120) == ["--events", "4000000"]
    assert stage_arguments("silver", 0.1, 1000, 120) == ["--sizes", "50000", "200000"]
    assert stage_arguments("gold", 4, 1000, 120) == ["--scale", "4"]
    assert stage_arguments("floor", 4, 1000, 120) == []  # one-row tables: no scale
    assert stage_arguments("freshness", 1, 250, 60) == [
        "--rate",
        "250",
        "--duration",
        "60",
        "--start-services",
    ]


def test_a_list_result_is_keyed_by_table_size():
    silver = [{"table_rows": 500, "merge_p95_s": 0.5}, {"table_rows": 2000, "merge_p95_s": 0.9}]
    assert as_mapping(silver) == {"500_rows": silver[0], "2000_rows": silver[1]}
    assert as_mapping({"a": 1}) == {"a": 1}


def test_median_of_numbers_nested_and_last_of_the_rest():
    runs = [
        {"rows_per_s": 10, "lat": {"p95": 3.0}, "status": "ok", "met": True},
        {"rows_per_s": 30, "lat": {"p95": 1.0}, "status": "ok", "met": False},
        {"rows_per_s": 20, "lat": {"p95": 2.0}, "status": "ok", "met": True},
    ]
    assert median_of(runs) == {"rows_per_s": 20, "lat": {"p95": 2.0}, "status": "ok", "met": True}


def test_parse_scales():
    assert parse_scales("4,0.1,1") == [0.1, 1.0, 4.0]
    assert parse_scales("1") == [1.0]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_scales("0,1")
