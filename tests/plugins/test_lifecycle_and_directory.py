"""Providers start with the application and stop with it; one of them is the subscriber
directory that bulk questions walk."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from seggraph import hookimpl
from seggraph.app import create_app
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.plugins import ProviderStatus, SubscriberFilter
from seggraph.plugins.manager import PluginManager, ProviderCallError
from seggraph.settings import Settings
from tests.plugins.fakes import DescribedDirectory, Directory, FakeProvider, manager_with, number


async def test_providers_start_and_stop_with_the_application(settings: Settings) -> None:
    directory = Directory(3)
    app = create_app(
        settings.model_copy(update={"plugins": []}), extra_plugins=[("ledger", directory)]
    )
    async with app.router.lifespan_context(app):
        assert directory.events == ["startup"]
        assert app.state.services.plugins is app.state.plugins
    assert directory.events == ["startup", "shutdown"]


async def test_the_directory_pages_through_subscriber_ids() -> None:
    manager = manager_with(("ledger", Directory(5)), subscriber_directory="ledger")
    assert manager.directory() == "ledger"
    assert await manager.subscriber_ids(None, 2) == ["sub_1", "sub_2"]
    assert await manager.subscriber_ids("sub_2", 2) == ["sub_3", "sub_4"]
    assert await manager.subscriber_ids("sub_5", 2) == []


async def test_billing_is_the_default_directory_and_a_lone_one_is_used() -> None:
    both = manager_with(("billing", Directory(2)), ("crm", Directory(9)))
    assert both.directory() == "billing"
    assert manager_with(("crm", Directory(9))).directory() == "crm"
    assert manager_with(("crm", Directory(1)), ("cdp", Directory(1))).directory() is None


async def test_several_directories_and_none_named_the_error_says_to_choose() -> None:
    """Two providers list subscribers and SEGGRAPH_SUBSCRIBER_DIRECTORY names neither: not
    "no provider lists subscribers", which sends the reader to install one."""
    several = manager_with(("crm", Directory(1)), ("cdp", Directory(1)))
    with pytest.raises(ProviderCallError) as error:
        await several.subscriber_ids(None, 10)
    assert str(error.value) == (
        "no subscriber directory: several providers list subscribers (crm, cdp) and "
        "SEGGRAPH_SUBSCRIBER_DIRECTORY names none of them ('billing'): set it to one"
    )


async def test_without_a_directory_or_when_it_fails_the_error_names_it() -> None:
    """With none installed, the error does not blame the billing provider (the default
    SEGGRAPH_SUBSCRIBER_DIRECTORY), which is not there."""
    with pytest.raises(ProviderCallError) as none:
        await manager_with().subscriber_ids(None, 10)
    assert str(none.value) == (
        "no subscriber directory: no provider lists subscribers (install the billing provider, "
        "or set SEGGRAPH_SUBSCRIBER_DIRECTORY)"
    )
    failing = manager_with(("billing", Directory(2, fail=TimeoutError("ledger slow"))))
    with pytest.raises(ProviderCallError) as error:
        await failing.subscriber_ids(None, 10)
    assert (
        str(error.value)
        == "provider 'billing': could not list subscribers: TimeoutError: ledger slow"
    )
    assert failing.info("billing").failures_in_row == 1  # type: ignore[union-attr]


async def test_start_up_says_when_there_is_no_directory(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider author's environment without the billing provider: the log says at start-up
    that counts and member lists will fail, rather than only when one is asked."""
    app = create_app(
        settings.model_copy(update={"plugins": []}),
        extra_plugins=[("loyalty", FakeProvider([number("loyalty.points")]))],
    )
    with caplog.at_level(logging.INFO, logger="seggraph.plugins.manager"):
        async with app.router.lifespan_context(app):
            pass
    said = [r.getMessage() for r in caplog.records if "directory" in r.getMessage()]
    assert said == [
        "no subscriber directory: no provider lists subscribers (install the billing provider, "
        "or set SEGGRAPH_SUBSCRIBER_DIRECTORY); member counts and lists will fail"
    ]


class FailingToStart(Directory):
    @hookimpl
    async def startup(self) -> None:
        raise RuntimeError("ledger unreachable")


async def test_a_named_directory_that_failed_or_is_disabled_is_not_replaced(
    settings: Settings,
) -> None:
    """Another provider's subscribers standing in for the directory's would make every count
    and member list wrong without a word: a bulk question fails, naming why."""
    app = create_app(
        settings.model_copy(update={"plugins": [], "subscriber_directory": "loyalty"}),
        extra_plugins=[("loyalty", FailingToStart(2)), ("ledger", Directory(3))],
    )
    async with app.router.lifespan_context(app):
        manager = app.state.plugins
        assert manager.directory() is None
        with pytest.raises(ProviderCallError) as error:
            await manager.subscriber_ids(None, 10)
        assert "'loyalty' (SEGGRAPH_SUBSCRIBER_DIRECTORY) failed to start" in str(error.value)
        assert "ledger unreachable" in str(error.value)

    # Named explicitly and disabled, billing is not replaced by the one other directory
    # either. As the default, disabled or left out by SEGGRAPH_PLUGINS, it is as if not
    # installed, and the other one answers (a deployment with a directory of its own).
    named = Settings(_env_file=None, disable_plugins=["billing"], subscriber_directory="billing")
    disabled = PluginManager.load(named, [("ledger", Directory(3))])
    assert disabled.directory() is None
    with pytest.raises(ProviderCallError, match=r"'billing' .* is disabled \(in SEGGRAPH_DISABLE"):
        await disabled.subscriber_ids(None, 10)
    by_default = Settings(_env_file=None, disable_plugins=["billing"])
    assert PluginManager.load(by_default, [("ledger", Directory(3))]).directory() == "ledger"
    assert manager_with(("ledger", Directory(3))).directory() == "ledger"


async def test_only_the_directory_describes_the_directory_and_a_bad_answer_is_no_answer() -> None:
    """Pushed-down answers are kept to ``directory_filter``'s ids; without a usable one there
    is no push-down, and a failing provider is recorded."""
    described = manager_with(("billing", DescribedDirectory(2)))
    assert described.directory_filter() == SubscriberFilter("ledger", {"open": True})
    # Another provider's description is never asked: the directory here is billing.
    other = manager_with(("billing", Directory(2)), ("crm", DescribedDirectory(2)))
    assert other.directory_filter() is None
    assert manager_with().directory_filter() is None
    for answer, said in (
        (ValueError("no collection yet"), "no collection yet"),
        ({"collection": "ledger"}, "expected a SubscriberFilter, got dict"),
    ):
        failing = manager_with(("billing", DescribedDirectory(2, answer)))
        assert failing.directory_filter() is None
        info = failing.info("billing")
        assert info is not None and said in (info.last_error or "")
        assert "could not describe its directory" in (info.last_error or "")


class Redeclaring(FakeProvider):
    """Declares ``definitions`` as they are when asked; ``changed()`` tells seggraph."""

    def __init__(self, definitions: list[PropertyDefinition]) -> None:
        super().__init__(definitions)
        self.changed: Callable[[], None] = lambda: None

    @hookimpl
    def startup(self, properties_changed: Callable[[], None]) -> None:
        self.changed = properties_changed


async def test_definitions_changed_at_run_time_replace_the_providers_part_or_are_refused(
    settings: Settings,
) -> None:
    """What ``properties_changed`` does (as docs/writing-a-provider.md says): the new
    definitions take effect before it returns; definitions that clash with another provider's
    are refused and the old ones kept (in the catalogue and in the provider's description),
    with ``lastError``; an invalid declaration makes the provider FAILED without properties."""
    beta = Redeclaring([number("beta.score")])
    app = create_app(
        settings.model_copy(update={"plugins": []}),
        extra_plugins=[("alpha", FakeProvider([number("alpha.count")])), ("beta", beta)],
    )
    async with app.router.lifespan_context(app):
        services = app.state.services

        def keys() -> list[str]:
            return sorted(d.key for d in services.catalogue)

        def described() -> tuple[ProviderStatus, list[str], str | None]:
            info = services.plugins.info("beta")
            return info.status, [d.key for d in info.properties], info.last_error

        beta.definitions = [number("beta.score"), number("beta.streak")]
        beta.changed()
        assert keys() == ["alpha.count", "beta.score", "beta.streak"]  # already
        beta.definitions = [number("beta.score"), number("alpha.count")]
        beta.changed()
        assert keys() == ["alpha.count", "beta.score", "beta.streak"]
        status, properties, error = described()
        assert (status, properties) == (ProviderStatus.OK, ["beta.score", "beta.streak"])
        assert error is not None and error.startswith("new definitions refused:")
        assert "alpha.count" in error
        beta.definitions = [PropertyDefinition("Beta Score", "", PropertyType.NUMBER)]
        beta.changed()
        assert keys() == ["alpha.count"]
        status, properties, error = described()
        assert (status, properties) == (ProviderStatus.FAILED, [])
        assert error is not None and "declared invalid properties" in error
