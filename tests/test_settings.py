"""Settings come from SEGGRAPH_* variables; a malformed one names itself and what it expected."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from seggraph.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SEGGRAPH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))  # no stray .env file


def test_defaults() -> None:
    settings = load_settings()
    assert settings.mongodb_uri is None and settings.embedded
    assert (settings.database, settings.host, settings.port) == ("seggraph", "127.0.0.1", 8000)
    assert settings.timezone == "UTC" and settings.currency == "USD"


def test_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGGRAPH_MONGODB_URI", "mongodb://db.example:27017")
    monkeypatch.setenv("SEGGRAPH_PORT", "9001")
    monkeypatch.setenv("SEGGRAPH_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("SEGGRAPH_CURRENCY", "eur")
    monkeypatch.setenv("SEGGRAPH_LOG_LEVEL", "debug")
    settings = load_settings()
    assert not settings.embedded
    assert settings.port == 9001
    assert settings.zone.key == "Europe/Paris"
    assert settings.currency == "EUR"
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SEGGRAPH_PORT", "eighty", "SEGGRAPH_PORT: Input should be a valid integer"),
        ("SEGGRAPH_PORT", "70000", "SEGGRAPH_PORT: Input should be less than or equal to 65535"),
        ("SEGGRAPH_TIMEZONE", "Mars/Olympus", "SEGGRAPH_TIMEZONE: expected an IANA time zone name"),
        ("SEGGRAPH_CURRENCY", "dollars", "SEGGRAPH_CURRENCY: expected an ISO 4217 currency code"),
        ("SEGGRAPH_CURRENCY", "XYZ", "SEGGRAPH_CURRENCY: expected an ISO 4217 currency code"),
        ("SEGGRAPH_LOG_LEVEL", "chatty", "SEGGRAPH_LOG_LEVEL: Input should be 'DEBUG'"),
        ("SEGGRAPH_DATABASE", "my db", "SEGGRAPH_DATABASE: String should match pattern"),
        ("SEGGRAPH_DATA_DIR", "", "SEGGRAPH_DATA_DIR: expected a directory path"),
        ("SEGGRAPH_DATA_DIR", "  ", "SEGGRAPH_DATA_DIR: expected a directory path"),
        (
            "SEGGRAPH_SHUTDOWN_TIMEOUT_SECONDS",
            "0",
            "SEGGRAPH_SHUTDOWN_TIMEOUT_SECONDS: Input should be greater than or equal to 1",
        ),
        (
            "SEGGRAPH_SHUTDOWN_TIMEOUT_SECONDS",
            "2.5",
            "SEGGRAPH_SHUTDOWN_TIMEOUT_SECONDS: Input should be a valid integer",
        ),
    ],
)
def test_malformed_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert expected in str(error.value)


def test_a_malformed_value_stops_serve_with_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGGRAPH_PORT", "eighty")
    result = subprocess.run(
        [sys.executable, "-m", "seggraph", "serve"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "SEGGRAPH_PORT" in result.stderr and "valid integer" in result.stderr


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        # Leap-second zones: their offset stops following the rules where the leap-second
        # table ends (right/Europe/Paris stayed on summer time after June 2026).
        ("right/Europe/Paris", "(right/ zones count leap seconds: write Europe/Paris)"),
        # The same rules as Europe/Paris, under a name Intl rejects: refused, not rewritten,
        # so that the setting means the same on a machine whose zoneinfo has no posix/.
        ("posix/Europe/Paris", "(posix/ zones are copies: write Europe/Paris)"),
        ("localtime", "(localtime is a file of the zoneinfo directory, not a zone name)"),
        ("posixrules", "(posixrules is a file of the zoneinfo directory, not a zone name)"),
        ("Factory", "(Factory is a file of the zoneinfo directory, not a zone name)"),
        ("europe/paris", "(did you mean Europe/Paris?)"),
        ("utc", "(did you mean UTC?)"),
        ("Europe/Pariss", "(did you mean Europe/Paris?)"),
    ],
)
def test_a_time_zone_that_is_no_iana_name_is_refused_with_the_name_to_write(
    monkeypatch: pytest.MonkeyPatch, value: str, hint: str
) -> None:
    """ZoneInfo opens any file of the system's zoneinfo directory: these names started the
    server, and `account { timeZone }` answered a frontend a zone its Intl rejects."""
    monkeypatch.setenv("SEGGRAPH_TIMEZONE", value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = " ".join(str(error.value).split())
    assert (
        f"SEGGRAPH_TIMEZONE: expected an IANA time zone name such as UTC or Europe/Paris, "
        f"got {value!r} {hint}" in message
    )


@pytest.mark.parametrize(
    "value",
    ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"],
)
def test_iana_time_zone_names_are_taken_as_written(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SEGGRAPH_TIMEZONE", value)
    settings = load_settings()
    assert settings.timezone == value and settings.zone.key == value


def test_a_leap_second_time_zone_stops_serve_with_the_zone_to_write(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEGGRAPH_TIMEZONE", "right/Europe/Paris")
    monkeypatch.setenv("SEGGRAPH_DATA_DIR", str(tmp_path / "db"))  # were it started
    result = subprocess.run(
        [sys.executable, "-m", "seggraph", "serve"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "SEGGRAPH_TIMEZONE: expected an IANA time zone name" in message
    assert "got 'right/Europe/Paris' (right/ zones count leap seconds: write Europe/Paris)" in (
        message
    )


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--port", "70000", "--port: Input should be less than or equal to 65535"),
        ("--host", "", "--host: String should have at least 1 character"),
    ],
)
def test_a_malformed_option_of_serve_is_named_as_the_option(
    option: str, value: str, said: str
) -> None:
    """`seggraph serve --port 70000` said `SEGGRAPH_PORT: ...`, a variable that was not set."""
    result = subprocess.run(
        [sys.executable, "-m", "seggraph", "serve", option, value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert said in message and "SEGGRAPH_" not in message


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        ("mongodb://app:s3cr#t@db.example:99999/", "Port must be an integer between 0 and 65535"),
        ("postgres://app:s3cr#t@db.example/", "Invalid URI scheme"),
        ("mongodb://app:s3cr:t@db.example/", "Username and password must be escaped"),
    ],
)
def test_a_malformed_mongodb_uri_names_the_variable_without_its_password(
    monkeypatch: pytest.MonkeyPatch, uri: str, said: str
) -> None:
    """It passed the settings and failed at start-up, in a traceback (a port out of range)."""
    monkeypatch.setenv("SEGGRAPH_MONGODB_URI", uri)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = " ".join(str(error.value).split())
    assert "SEGGRAPH_MONGODB_URI: expected a MongoDB connection string PyMongo reads" in message
    assert said in message
    assert "s3cr" not in message and "app:***@db.example" in message


def test_well_formed_mongodb_uris_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    for uri in (
        "mongodb://app:p%40ss@a.example:27017,b.example:27018/seggraph?replicaSet=rs0&tls=true",
        "mongodb+srv://app:pw@cluster0.example.net/?retryWrites=true",  # read at start-up
        "mongodb://127.0.0.1/?directConnection=true",
    ):
        monkeypatch.setenv("SEGGRAPH_MONGODB_URI", uri)
        assert load_settings().mongodb_uri == uri
    # An option PyMongo does not know: the client warns and goes on, and so do the settings.
    monkeypatch.setenv("SEGGRAPH_MONGODB_URI", "mongodb://db.example/?notAnOption=1")
    with pytest.warns(UserWarning, match="Unknown option"):
        assert load_settings().mongodb_uri == "mongodb://db.example/?notAnOption=1"


def _readme_settings() -> dict[str, str]:
    """README's settings table: variable → its default column."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(SEGGRAPH_[A-Z0-9_]+)` \| ([^|]*) \|", table, re.M)
    return {name: default.strip() for name, default in rows}


def _documented_default(value: object) -> str:
    if value is None:
        return "unset"
    if value in ("", []):
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def test_the_readme_table_lists_every_setting_with_its_default() -> None:
    """Every variable seggraph and its bundled providers read is in README's table with the
    default the code has, and the table names no variable the code does not read."""
    from seggraph_billing.settings import BillingSettings
    from seggraph_cdp.settings import CdpSettings
    from seggraph_crm.settings import CrmSettings
    from seggraph_custom.settings import CustomSettings
    from seggraph_support_tickets.settings import SupportTicketsSettings

    from seggraph.settings import Settings

    classes = (
        Settings,
        BillingSettings,
        CdpSettings,
        CrmSettings,
        CustomSettings,
        SupportTicketsSettings,
    )
    documented = _readme_settings()
    in_code: dict[str, str] = {}
    for cls in classes:
        prefix = str(cls.model_config.get("env_prefix"))
        for name, field in cls.model_fields.items():
            if field.default_factory is not None:
                default = field.default_factory()  # type: ignore[call-arg]
            else:
                default = field.default
            in_code[prefix + name.upper()] = _documented_default(default)
    in_code["SEGGRAPH_TEST_MONGODB_URI"] = "unset"  # the tests' (tests/conftest.py)
    in_code["SEGGRAPH_AUTH"] = "`on`" if Settings.model_fields["auth"].default else "`off`"
    assert sorted(documented) == sorted(in_code)
    assert documented["SEGGRAPH_DATA_DIR"].startswith("`$XDG_DATA_HOME/seggraph/db`")
    del documented["SEGGRAPH_DATA_DIR"], in_code["SEGGRAPH_DATA_DIR"]
    assert documented == in_code
