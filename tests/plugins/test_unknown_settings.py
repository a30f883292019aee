"""A ``SEGGRAPH_*`` variable that no setting has (a misspelled name) is a warning, naming the
closest setting, in the server's log, in ``seggraph plugins`` and in every command that reads
the settings (``seggraph import …``, ``seggraph keys …``, ``seggraph demo``); it was ignored
without a word (``SEGGRAPH_MONGO_URI`` started the server, or an import, on the embedded
database)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from pymongo import MongoClient

from seggraph.app import create_app
from seggraph.embedded import free_port
from seggraph.plugins import hookimpl
from seggraph.settings import Settings
from tests.plugins.conftest import write_distribution
from tests.plugins.test_cli import seggraph
from tests.serve_process import run_seggraph, serving

SECRET = "hunter2-do-not-log"


@pytest.mark.slow
def test_serve_warns_of_misspelled_settings_without_their_values(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serving(
        tmp_path / "db",
        free_port(),
        log,
        SEGGRAPH_AUTH="off",
        SEGGRAPH_MONGO_URI=f"mongodb://admin:{SECRET}-uri@db.example",
        SEGGRAPH_CDP_WRITEKEY=f"{SECRET}-cdp",
        SEGGRAPH_SUPPORT_TICKETS_TOKEN=f"{SECRET}-tickets",  # spelled right
        SEGGRAPH_DISABLE_PLUGINS="crm",
        SEGGRAPH_CRM_EMAIL_FEILD=f"{SECRET}-crm",  # crm is disabled: its names are its own
    ):
        pass
    text = log.read_text()
    warned = sorted(
        line.split(": ", 1)[1] for line in text.splitlines() if "unknown setting" in line
    )
    assert warned == [
        "unknown setting SEGGRAPH_CDP_WRITEKEY (did you mean SEGGRAPH_CDP_WRITE_KEY?): ignored",
        "unknown setting SEGGRAPH_MONGO_URI (did you mean SEGGRAPH_MONGODB_URI?): ignored",
    ]
    assert all(" WARNING " in line for line in text.splitlines() if "unknown setting" in line)
    assert SECRET not in text


#: Commands that read the settings, each with the files it is given (empty ones).
COMMANDS = {
    "keys list": ("keys", "list"),
    "import billing": ("import", "billing", "billing.jsonl"),
    "import crm": ("import", "crm", "crm.json", "--dry-run"),
    "import custom": ("import", "custom", "values.csv"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_commands_warn_of_misspelled_settings_once_without_their_values(
    tmp_path: Path, mongo_uri: str, database_name: str, command: str
) -> None:
    """`SEGGRAPH_MONGO_URI=… seggraph import billing FILE` wrote into the embedded database
    without a word: only `serve` and `seggraph plugins` warned."""
    (tmp_path / "billing.jsonl").write_text("")
    (tmp_path / "crm.json").write_text('{"contacts": []}')
    (tmp_path / "values.csv").write_text("subscriber_id,key,value\n")
    database = f"{database_name}_unknown_settings"
    try:
        result = run_seggraph(
            *COMMANDS[command],
            cwd=tmp_path,
            COLUMNS="400",
            SEGGRAPH_MONGODB_URI=mongo_uri,  # spelled right: the test database
            SEGGRAPH_DATABASE=database,
            SEGGRAPH_MONGO_URI=f"mongodb://admin:{SECRET}-uri@db.example",
            SEGGRAPH_CDP_WRITEKEY=f"{SECRET}-cdp",
            SEGGRAPH_CDP_WRITE_KEY=f"{SECRET}-cdp-right",
        )
    finally:
        with MongoClient(mongo_uri) as client:
            client.drop_database(database)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "unknown setting" in line] == [
        "warning: unknown setting SEGGRAPH_CDP_WRITEKEY (did you mean SEGGRAPH_CDP_WRITE_KEY?): "
        "ignored",
        "warning: unknown setting SEGGRAPH_MONGO_URI (did you mean SEGGRAPH_MONGODB_URI?): ignored",
    ]
    assert SECRET not in result.stderr + result.stdout


LOYALTY = """
from pydantic_settings import BaseSettings, SettingsConfigDict

from seggraph import hookimpl


class PointsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEGGRAPH_POINTS_")

    api_key: str = ""


class Loyalty:
    @hookimpl
    def register_settings(self):
        return [PointsSettings, "SEGGRAPH_POINTS_LEGACY_TOKEN"]
"""

REFERRALS = """
class Referrals:
    pass
"""


def test_plugins_warns_of_misspelled_settings_of_plugins_and_of_dotenv(tmp_path: Path) -> None:
    """A third-party plugin says which variables it reads (``register_settings``); one
    without the hook keeps every ``SEGGRAPH_<NAME>_`` variable to itself."""
    site = tmp_path / "site"
    write_distribution(
        site,
        "seggraph-loyalty",
        "0.1.0",
        {"loyalty": "seggraph_test_loyalty:Loyalty", "referrals": "seggraph_test_refs:Referrals"},
        {"seggraph_test_loyalty": LOYALTY, "seggraph_test_refs": REFERRALS},
    )
    (tmp_path / ".env").write_text(
        f"SEGGRAPH_CRM_EMAIL_FEILD={SECRET}\nseggraph_billing_webhook_secret={SECRET}\n",
        encoding="utf-8",
    )
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    result = seggraph(
        "plugins",
        "--json",
        cwd=tmp_path,
        PYTHONPATH=path,
        SEGGRAPH_POINTS_API_KYE=SECRET,
        SEGGRAPH_POINTS_API_KEY=SECRET,
        SEGGRAPH_POINTS_LEGACY_TOKEN=SECRET,
        SEGGRAPH_REFERRALS_CODE=SECRET,
        SEGGRAPH_PROVIDER_TIMEOUT=SECRET,
        SEGGRAPH_BULK_CONCURRENCY="3",
    )
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stderr.split()).removeprefix("warning: ").split(" warning: ")
    warned = sorted(line for line in said if "unknown setting" in line)
    assert warned == [
        "unknown setting SEGGRAPH_CRM_EMAIL_FEILD in .env (did you mean "
        "SEGGRAPH_CRM_EMAIL_FIELD?): ignored",
        "unknown setting SEGGRAPH_POINTS_API_KYE (did you mean SEGGRAPH_POINTS_API_KEY?): ignored",
        "unknown setting SEGGRAPH_PROVIDER_TIMEOUT (did you mean "
        "SEGGRAPH_PROVIDER_TIMEOUT_SECONDS?): ignored",
    ]
    assert SECRET not in result.stderr + result.stdout


class FailingSettings:
    name = "loyalty"

    @hookimpl
    def register_settings(self) -> list[object]:
        return [42]


def test_the_app_warns_once_per_unknown_setting_and_survives_a_failing_hook(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("SEGGRAPH_MAX_QUERY_DEPHT", SECRET)
    monkeypatch.setenv("seggraph_max_aliases", "10")  # read in any case, as pydantic does
    monkeypatch.setenv("SEGGRAPH_LOYALTY_ANYTHING", SECRET)
    monkeypatch.setenv("SEGGRAPH_TEST_MONGODB_URI", SECRET)  # the test suite's own
    with caplog.at_level(logging.WARNING, logger="seggraph"):
        app = create_app(settings, extra_plugins=[FailingSettings()])
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [s for s in said if "unknown setting" in s] == [
        "unknown setting SEGGRAPH_MAX_QUERY_DEPHT (did you mean SEGGRAPH_MAX_QUERY_DEPTH?): ignored"
    ]
    assert (
        "plugin 'loyalty': register_settings failed (BadAnswer: expected pydantic-settings "
        "classes and variable names, got int): its SEGGRAPH_LOYALTY_* variables are not checked"
    ) in said
    assert SECRET not in caplog.text
    assert app.state.plugins.info("loyalty").status.value == "OK"


def test_a_dotenv_line_with_a_colon_for_equals_is_warned_of_without_its_value(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """python-dotenv reads ``SEGGRAPH_CDP_WRITE_KEY:secret`` (a colon for ``=``, as in YAML)
    as one name without a value: the warning printed that name, the secret with it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        f"SEGGRAPH_CDP_WRITE_KEY:{SECRET}\nSEGGRAPH_AUTH=off\n", encoding="utf-8"
    )
    with caplog.at_level(logging.WARNING, logger="seggraph"):
        create_app(settings)
    said = [r.getMessage() for r in caplog.records if "unknown setting" in r.getMessage()]
    assert said == [
        "unknown setting SEGGRAPH_CDP_WRITE_KEY… in .env (did you mean "
        "SEGGRAPH_CDP_WRITE_KEY?): ignored"
    ]
    assert SECRET not in caplog.text
