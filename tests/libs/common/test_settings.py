import pytest
from pydantic import ValidationError

from lakepulse_common.settings import LakePulseSettings

pytestmark = pytest.mark.unit


def test_nested_environment_variables_use_prefix_and_double_underscore(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEPULSE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LAKEPULSE_KAFKA__BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("LAKEPULSE_POSTGRES__PORT", "6543")
    monkeypatch.setenv("LAKEPULSE_CONTROL_API__TOKENS", '["a-token"]')
    settings = LakePulseSettings()
    assert settings.kafka.bootstrap_servers == "broker:9092"
    assert settings.postgres.port == 6543
    assert settings.control_api.tokens[0].get_secret_value() == "a-token"


def test_paths_default_under_the_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LAKEPULSE_STATE_DIR", str(tmp_path))
    settings = LakePulseSettings()
    assert settings.postgres.data_dir == tmp_path / "postgres"
    assert settings.spark.jars_dir == tmp_path / "jars" / "spark"
    assert settings.lake_root == (tmp_path / "lake").as_uri()


def test_secrets_never_appear_in_repr_or_redacted_dsn(monkeypatch):
    monkeypatch.setenv("LAKEPULSE_POSTGRES__PASSWORD", "s3cr3t-value")
    settings = LakePulseSettings()
    assert "s3cr3t-value" not in repr(settings)
    assert "s3cr3t-value" not in settings.model_dump_json()
    assert "s3cr3t-value" not in settings.postgres.redacted_dsn()
    assert "s3cr3t-value" in settings.postgres.dsn()


def test_password_with_reserved_characters_is_quoted_in_the_dsn(monkeypatch):
    monkeypatch.setenv("LAKEPULSE_POSTGRES__PASSWORD", "p@ss/w:rd")
    assert "p%40ss%2Fw%3Ard@" in LakePulseSettings().postgres.dsn()


@pytest.mark.parametrize("root", ["s3a://bucket/lake", "file:///tmp/lake"])
def test_lake_root_accepts_s3a_and_file(monkeypatch, root):
    monkeypatch.setenv("LAKEPULSE_LAKE__ROOT", root)
    assert LakePulseSettings().lake_root == root


def test_lake_root_rejects_unknown_schemes(monkeypatch):
    monkeypatch.setenv("LAKEPULSE_LAKE__ROOT", "hdfs://namenode/lake")
    with pytest.raises(ValidationError):
        LakePulseSettings()
