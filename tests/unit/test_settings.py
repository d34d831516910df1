from pathlib import Path

import msgspec
import pytest

from app.lib.settings import Settings, SettingsError, load_settings


def test_defaults_serve_on_loopback_with_the_embedded_database() -> None:
    settings = load_settings({})
    assert (settings.host, settings.port, settings.database_url) == ("127.0.0.1", 8080, None)
    assert settings.embedded_pgdata.name == "pgdata"


def test_prefixed_variables_and_database_url_are_read() -> None:
    settings = load_settings(
        {
            "WORKFLOW_SEARCH_PORT": "9001",
            "WORKFLOW_SEARCH_DATA_DIR": "/srv/ws",
            "WORKFLOW_SEARCH_LOG_LEVEL": "DEBUG",
            "DATABASE_URL": "postgresql://u:p@db/ws",
            "PORT": "1",  # unprefixed names other than DATABASE_URL/REDIS_URL are not ours
        }
    )
    assert settings.port == 9001
    assert settings.data_dir == "/srv/ws"
    assert settings.log_level == "DEBUG"
    assert settings.database_url == "postgresql://u:p@db/ws"


def test_flags_win_over_the_environment_and_unset_flags_do_not() -> None:
    settings = load_settings({"WORKFLOW_SEARCH_PORT": "9001", "WORKFLOW_SEARCH_HOST": "127.0.0.2"})
    overridden = settings.with_overrides(port=9002, host=None)
    assert (overridden.port, overridden.host) == (9002, "127.0.0.2")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WORKFLOW_SEARCH_PORT", "not-a-number"),
        ("WORKFLOW_SEARCH_PORT", "70000"),
        ("WORKFLOW_SEARCH_DB_POOL_SIZE", "-1"),
        ("WORKFLOW_SEARCH_LOG_LEVEL", "LOUD"),
        ("WORKFLOW_SEARCH_MAX_REQUEST_BODY_BYTES", "0"),
        ("DATABASE_URL", "mysql://user:pw@host/db"),
        ("DATABASE_URL", "not a url"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("VECTOR_DATABASE_URL", "sqlite:///x.db"),
        ("WORKFLOW_SEARCH_PROBLEM_BASE_URL", "ftp://problems"),
        ("WORKFLOW_SEARCH_DLQ_MAX_LENGTH", "-5"),
        ("WORKFLOW_SEARCH_DLQ_RETRY_DELAYS_SECONDS", "60,-1"),
        ("WORKFLOW_SEARCH_DLQ_BACKEND", "kafka"),
        ("WORKFLOW_SEARCH_LOG_FORMAT", "xml"),
        ("WORKFLOW_SEARCH_SHUTDOWN_GRACE_SECONDS", "-1"),
        ("WORKFLOW_SEARCH_AUDIT_WRITE_TIMEOUT_SECONDS", "0"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_the_effective_configuration_names_every_variable_and_masks_passwords() -> None:
    settings = load_settings(
        {"DATABASE_URL": "postgresql://app:hunter2@db/ws", "REDIS_URL": "redis://:s3cret@cache:6379/0"}
    )
    effective = settings.effective()

    assert effective["DATABASE_URL"] == "postgresql://app:***@db/ws"
    assert effective["REDIS_URL"] == "redis://:***@cache:6379/0"
    assert "hunter2" not in str(effective)
    assert "s3cret" not in str(effective)
    assert len(effective) == len(msgspec.structs.fields(Settings))
    assert effective["WORKFLOW_SEARCH_DLQ_RETRY_DELAYS_SECONDS"] == (60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)


def test_every_setting_is_in_the_operations_table() -> None:
    table = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    missing = [name for name in Settings().effective() if f"`{name}`" not in table]
    assert missing == []
