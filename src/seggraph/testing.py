"""The contract kit: checks that a provider keeps the plugin contract.

For plugin authors, in an async test (pytest-asyncio)::

    from seggraph.domain.context import EvaluationContext
    from seggraph.testing import check_provider

    async def test_my_provider_keeps_the_contract(database):
        report = await check_provider(
            MyPlugin(),
            contexts=[EvaluationContext("cus_1"), EvaluationContext("cus_2")],
            database=database,  # a seggraph.db.Database, for providers with a ``startup``
        )
        report.assert_ok()

It registers the plugin in a plugin manager of its own, starts it (when given a database),
and checks, with the contexts you give (subscribers your test data knows) plus one subscriber
nobody knows:

- ``registration``: the plugin registers (only known hooks, valid signatures) and starts; a
  method named after a hook but not marked ``@hookimpl``, and a hook parameter with a default
  value (pluggy passes only the parameters without one), are reported too;
- ``definitions``: every declared property is valid (key, label, type, ENUM values,
  currency...), no key twice, and a provider that declares properties can resolve them;
- ``resolve_shape``: ``resolve_properties`` answers in the documented shape, only for the
  contexts it was asked about, in time;
- ``own_keys``: it answers only keys it declared;
- ``value_types``: every value is of its property's declared type;
- ``missing_vs_errors``: a subscriber it knows nothing about gets MISSING (never an error, never
  a placeholder such as ``""`` or ``"N/A"``), and known subscribers get no error;
- ``expected_values``: the values you say to expect (``expected=``), MISSING included,
  compared as the server reads them: ``"gold"`` answered for an ENUM declaring ``GOLD`` is
  ``"GOLD"``, a bare ``7`` for a MONEY property declaring ``currency="EUR"`` is
  ``Money(7, "EUR")`` (and, without a declared currency, 7 in the account currency);
- ``batch_consistency``: a batch answers the same as one-by-one calls (per context, per key,
  and in another order), compared the same way;
- ``suggestions``: suggested values are valid values of the type, start with the prefix, and
  are no more than asked for;
- ``directory``: for a subscriber directory (``subscriber_ids``) that describes itself
  (``directory_filter``, checked when a database is given): pages come in ascending id order
  without repeats, and the filter selects exactly the ids the pages list;
- ``translations``: for each condition of ``conditions=`` (text form, one condition each, such
  as ``'loyalty.tier = "GOLD"'``; with a database), the subscribers ``condition_to_filter``'s
  query selects among your contexts are exactly those the evaluation finds TRUE, and the
  database takes the query (a condition it does not translate is not checked).

``check_provider`` returns a :class:`ContractReport`; ``report.assert_ok()`` fails with every
problem listed, each once. The ``provider_contract`` pytest fixture is the same function.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seggraph.domain.conditions import iter_conditions
from seggraph.domain.context import EvaluationContext
from seggraph.domain.properties import PropertyDefinition, PropertyType
from seggraph.evaluation import Truth, compile_segment
from seggraph.evaluation.values import MISSING, Unknown, coercer_of
from seggraph.plugins.definitions import declaration_problems
from seggraph.plugins.manager import PluginManager, ProviderTimeout
from seggraph.plugins.results import (
    ProviderStatus,
    SubscriberFilter,
    describe_exception,
    normalize_value,
    selected_ids,
)
from seggraph.settings import Settings
from seggraph.textform import TextFormError, parse
from seggraph.validation.conditions import ConditionValidator

if TYPE_CHECKING:
    from seggraph.db import Database

CHECKS = (
    "registration",
    "definitions",
    "resolve_shape",
    "own_keys",
    "value_types",
    "missing_vs_errors",
    "expected_values",
    "batch_consistency",
    "suggestions",
    "directory",
    "translations",
)
#: The directory check walks at most this many ids (test data is small).
DIRECTORY_CHECK_LIMIT = 20_000
PLACEHOLDERS = frozenset({"", "n/a", "na", "none", "null", "nil", "unknown", "missing", "-"})
DEFAULT_NAME = "provider_under_test"


@dataclass(frozen=True)
class ContractProblem:
    check: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}"


@dataclass
class ContractReport:
    """What :func:`check_provider` found."""

    provider: str
    problems: list[ContractProblem] = field(default_factory=list)
    checks_run: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def failed(self, check: str) -> list[ContractProblem]:
        """The problems one check found."""
        return [p for p in self.problems if p.check == check]

    def add(self, check: str, message: str) -> None:
        """Record a problem, once: the checks ask the provider many times (alone, per key, in
        reverse order), and one bug would otherwise be listed as often."""
        problem = ContractProblem(check, message)
        if problem not in self.problems:
            self.problems.append(problem)

    def ran(self, check: str) -> None:
        if check not in self.checks_run:
            self.checks_run.append(check)

    def assert_ok(self) -> None:
        """Fail (``AssertionError``) with every problem, when there is any."""
        if self.problems:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            raise AssertionError(
                f"provider {self.provider!r} breaks the seggraph plugin contract:\n{listed}"
            )


async def check_provider(
    plugin: object,
    contexts: Sequence[EvaluationContext],
    *,
    name: str = DEFAULT_NAME,
    database: Database | None = None,
    settings: Settings | None = None,
    expected: Mapping[EvaluationContext, Mapping[str, Any]] | None = None,
    prefixes: Sequence[str] = ("",),
    suggestion_limit: int = 5,
    conditions: Sequence[str] = (),
) -> ContractReport:
    """Check ``plugin`` against the contract (see the module docstring); never raises because
    of the plugin."""
    settings = settings if settings is not None else Settings.model_construct()
    report = ContractReport(name)
    manager = PluginManager(settings)
    manager.add_plugin(plugin, name=name)
    report.ran("registration")
    info = manager.info(name)
    if info is None or info.status is ProviderStatus.FAILED:
        report.add("registration", (info and info.last_error) or "could not be registered")
        return report
    for mistake in manager.hook_mistakes(name):
        report.add("registration", mistake)
    started = False
    try:
        if database is not None and manager.implements(name, "startup"):
            from seggraph.services.container import Services

            services = Services.build(settings, database)
            services.plugins = manager
            started = True
            await manager.startup(database, services)
            info = manager.info(name)
            if info is not None and info.status is ProviderStatus.FAILED:
                report.add("registration", info.last_error or "failed to start")
                return report
        checker = _Checker(manager, name, settings, report)
        definitions = await checker.definitions()
        if definitions:
            await checker.values(definitions, contexts, expected or {})
            await checker.suggestions(definitions, prefixes, suggestion_limit)
        if database is not None:
            await checker.directory(database)
        if conditions:
            await checker.translations(database, contexts, conditions)
    finally:
        if started:
            await manager.shutdown()
    return report


async def assert_provider_contract(
    plugin: object, contexts: Sequence[EvaluationContext], **options: Any
) -> ContractReport:
    """:func:`check_provider`, then :meth:`ContractReport.assert_ok`."""
    report = await check_provider(plugin, contexts, **options)
    report.assert_ok()
    return report


def _show(context: EvaluationContext) -> str:
    if context.subscription_id:
        return f"{context.subscriber_id}/{context.subscription_id}"
    return context.subscriber_id


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Unknown) and isinstance(b, Unknown):
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - values that cannot be compared are different
        return False


def _read(definition: PropertyDefinition, value: Any, settings: Settings) -> Any:
    """``value`` as the server reads it for ``definition`` (an ENUM's identifier in its
    declared spelling, money as ``(amount, currency)`` with a bare amount in the property's
    declared currency...); ``value`` itself when it is missing, an error, or unreadable."""
    if value is MISSING or isinstance(value, Unknown):
        return value
    read = coercer_of(definition, timezone=settings.zone, currency=settings.currency)(value)
    return value if isinstance(read, Unknown) else read


def _same_as_read(definition: PropertyDefinition, a: Any, b: Any, settings: Settings) -> bool:
    """Whether the server reads ``a`` and ``b`` as the same value (``"gold"`` and ``"GOLD"``
    of an ENUM declaring ``GOLD`` are; ``7`` and ``Money(7, "EUR")`` of a MONEY declaring
    EUR are)."""
    return _same(a, b) or _same(_read(definition, a, settings), _read(definition, b, settings))


Rows = dict[EvaluationContext, dict[str, Any]]


class _Checker:
    def __init__(
        self, manager: PluginManager, name: str, settings: Settings, report: ContractReport
    ) -> None:
        self.manager = manager
        self.name = name
        self.settings = settings
        self.report = report
        self.declared: set[str] = set()

    # --- definitions ------------------------------------------------------------------------------

    async def definitions(self) -> list[PropertyDefinition]:
        report = self.report
        report.ran("definitions")
        if not self.manager.implements(self.name, "register_properties"):
            report.add("definitions", "implements no register_properties: it declares nothing")
            return []
        declared: list[object] = []
        try:
            await self.manager.call_hook(
                self.name, "register_properties", register=declared.append, settings=self.settings
            )
        except Exception as exc:  # noqa: BLE001 - the provider's failure, reported
            report.add("definitions", f"register_properties raised {describe_exception(exc)}")
            return []
        for problem in declaration_problems(declared):
            report.add("definitions", problem)
        definitions = [d for d in declared if isinstance(d, PropertyDefinition)]
        if not definitions:
            report.add("definitions", "declares no property")
        elif not self.manager.implements(self.name, "resolve_properties"):
            report.add("definitions", "declares properties but implements no resolve_properties")
            return []
        self.declared = {d.key for d in definitions}
        return definitions

    # --- values -----------------------------------------------------------------------------------

    async def _resolve(self, contexts: list[EvaluationContext], keys: list[str]) -> Rows | None:
        """The raw answer, normalized; ``None`` (with the problem reported) when unusable."""
        report = self.report
        report.ran("resolve_shape")
        asked = ", ".join(keys) if len(keys) < 4 else f"{len(keys)} keys"
        where = f"resolve_properties for {len(contexts)} context(s) and {asked}"
        try:
            answer = await self.manager.call_hook(
                self.name,
                "resolve_properties",
                contexts=contexts,
                keys=keys,
                settings=self.settings,
            )
        except ProviderTimeout as exc:
            report.add("resolve_shape", f"{where} {exc}")
            return None
        except Exception as exc:  # noqa: BLE001 - the provider's failure, reported
            report.add("resolve_shape", f"{where} raised {describe_exception(exc)}")
            return None
        if isinstance(answer, Mapping):
            raw_rows = dict(answer)
        elif isinstance(answer, Sequence) and not isinstance(answer, str | bytes):
            if len(answer) != len(contexts):
                report.add(
                    "resolve_shape",
                    f"{where} answered {len(answer)} rows for {len(contexts)} contexts",
                )
                return None
            raw_rows = dict(zip(contexts, answer, strict=True))
        else:
            report.add(
                "resolve_shape",
                f"{where} answered a {type(answer).__name__}, not a mapping of contexts",
            )
            return None
        rows: Rows = {}
        for context, row in raw_rows.items():
            if not isinstance(context, EvaluationContext):
                report.add(
                    "resolve_shape",
                    f"{where} answered a mapping keyed by {type(context).__name__} {context!r}: "
                    "key it by the EvaluationContext objects given in contexts (the server "
                    "answers every value of such a call UNKNOWN)",
                )
                return None
            if context not in contexts:
                report.add("resolve_shape", f"{where} answered for {context!r}, not asked")
                continue
            if row is not None and not isinstance(row, Mapping):
                report.add(
                    "resolve_shape", f"{where} answered a {type(row).__name__} for a context"
                )
                return None
            row = row or {}
            self.report.ran("own_keys")
            for key in row:
                if key not in self.declared:
                    report.add(
                        "own_keys",
                        f"answered {key!r} for {_show(context)}, a key it did not declare",
                    )
            rows[context] = {key: normalize_value(row.get(key, MISSING)) for key in keys}
        for context in contexts:
            rows.setdefault(context, dict.fromkeys(keys, MISSING))
        return rows

    async def values(
        self,
        definitions: list[PropertyDefinition],
        contexts: Sequence[EvaluationContext],
        expected: Mapping[EvaluationContext, Mapping[str, Any]],
    ) -> None:
        keys = [d.key for d in definitions]
        by_key = {d.key: d for d in definitions}
        nobody = EvaluationContext(f"seggraph-contract-nobody-{uuid.uuid4().hex[:12]}")
        known = list(dict.fromkeys([*contexts, *expected]))
        everyone = [*known, nobody]
        batch = await self._resolve(everyone, keys)
        if batch is None:
            return
        self._types(batch, by_key)
        self._missing(batch, known, nobody)
        self._expected(batch, expected, by_key)
        await self._consistency(batch, everyone, keys, by_key)

    def _types(self, rows: Rows, by_key: Mapping[str, PropertyDefinition]) -> None:
        self.report.ran("value_types")
        for context, row in rows.items():
            for key, value in row.items():
                problem = _type_problem(by_key[key], value, self.settings)
                if problem:
                    self.report.add(
                        "value_types", f"{key} for {_show(context)}: {value!r} {problem}"
                    )

    def _missing(
        self, rows: Rows, known: list[EvaluationContext], nobody: EvaluationContext
    ) -> None:
        report = self.report
        report.ran("missing_vs_errors")
        for key, value in rows[nobody].items():
            if isinstance(value, Unknown):
                report.add(
                    "missing_vs_errors",
                    f"{key} for a subscriber it does not know: answered an error ({value}); "
                    "no data is not an error, answer MISSING",
                )
            elif isinstance(value, str) and value.strip().casefold() in PLACEHOLDERS:
                report.add(
                    "missing_vs_errors",
                    f"{key} for a subscriber it does not know: answered {value!r}, which "
                    "looks like a placeholder; answer MISSING",
                )
        for context in known:
            for key, value in rows[context].items():
                if isinstance(value, Unknown):
                    report.add(
                        "missing_vs_errors",
                        f"{key} for {_show(context)}: answered an error ({value})",
                    )

    def _expected(
        self,
        rows: Rows,
        expected: Mapping[EvaluationContext, Mapping[str, Any]],
        by_key: Mapping[str, PropertyDefinition],
    ) -> None:
        """The values the test expects, compared as the server reads them (see
        :func:`_same_as_read`)."""
        if not expected:
            return
        report = self.report
        report.ran("expected_values")
        for context, wanted in expected.items():
            for key, want in wanted.items():
                if key not in rows[context]:
                    report.add("expected_values", f"{key} is not one of its properties")
                    continue
                got = rows[context][key]
                want = normalize_value(want)
                if want is MISSING and got is not MISSING:
                    what = "an error" if isinstance(got, Unknown) else "a value"
                    report.add(
                        "missing_vs_errors",
                        f"{key} for {_show(context)}: expected MISSING, got {what} ({got!r})",
                    )
                elif want is not MISSING and not _same_as_read(
                    by_key[key], got, want, self.settings
                ):
                    report.add(
                        "expected_values",
                        f"{key} for {_show(context)}: expected {want!r}, got {got!r}",
                    )

    async def _consistency(
        self,
        batch: Rows,
        everyone: list[EvaluationContext],
        keys: list[str],
        by_key: Mapping[str, PropertyDefinition],
    ) -> None:
        report = self.report
        report.ran("batch_consistency")

        def compare(rows: Rows | None, how: str) -> None:
            if rows is None:
                return
            for context, row in rows.items():
                for key, value in row.items():
                    if not _same_as_read(by_key[key], batch[context][key], value, self.settings):
                        report.add(
                            "batch_consistency",
                            f"{key} for {_show(context)}: {batch[context][key]!r} in a batch, "
                            f"{value!r} {how}",
                        )

        for context in everyone:
            compare(await self._resolve([context], keys), "asked alone")
        if len(keys) > 1:
            for key in keys:
                compare(await self._resolve(everyone, [key]), "asked for that key alone")
        if len(everyone) > 1:
            compare(await self._resolve(list(reversed(everyone)), keys), "in reverse order")

    # --- suggestions ------------------------------------------------------------------------------

    async def translations(
        self,
        database: Database | None,
        contexts: Sequence[EvaluationContext],
        conditions: Sequence[str],
    ) -> None:
        report = self.report
        report.ran("translations")
        if database is None:
            report.add("translations", "conditions to check need a database (database=)")
            return
        if not self.manager.implements(self.name, "condition_to_filter"):
            report.add("translations", "conditions were given, but it translates none")
            return
        known = list(dict.fromkeys(contexts))
        for text in conditions:
            problems = await _translation_problems(
                self.manager, self.name, database, known, text, self.settings
            )
            for problem in problems:
                report.add("translations", problem)

    async def directory(self, database: Database) -> None:
        implements = self.manager.implements
        if not implements(self.name, "directory_filter"):
            return
        report = self.report
        report.ran("directory")
        if not implements(self.name, "subscriber_ids"):
            report.add("directory", "directory_filter without subscriber_ids is never asked")
            return
        try:
            described = await self.manager.call_hook(self.name, "directory_filter")
            listed: list[str] = []
            while len(listed) < DIRECTORY_CHECK_LIMIT:
                page = await self.manager.call_hook(
                    self.name, "subscriber_ids", after=listed[-1] if listed else None, limit=1000
                )
                if not page:
                    break
                listed += [str(i) for i in page]
        except Exception as exc:  # noqa: BLE001 - the provider's failure, reported
            report.add("directory", f"raised {describe_exception(exc)}")
            return
        if not isinstance(described, SubscriberFilter) or not described.complete:
            report.add(
                "directory",
                f"directory_filter answered {described!r}, not a complete SubscriberFilter",
            )
            return
        if listed != sorted(set(listed)):
            report.add("directory", "subscriber_ids pages are not in ascending id order, once each")
        if len(listed) >= DIRECTORY_CHECK_LIMIT:
            return
        selected = await selected_ids(database.db, described)
        for what, ids in (
            ("selects ids subscriber_ids does not list", selected - set(listed)),
            ("leaves out ids subscriber_ids lists", set(listed) - selected),
        ):
            if ids:
                report.add("directory", f"directory_filter {what}: {sorted(ids)[:5]}")

    async def suggestions(
        self, definitions: list[PropertyDefinition], prefixes: Sequence[str], limit: int
    ) -> None:
        if not self.manager.implements(self.name, "suggest_property_values"):
            return
        self.report.ran("suggestions")
        for definition in definitions:
            first = await self._suggest(definition, "", limit)
            asked = list(dict.fromkeys(prefixes))
            if first and isinstance(first[0], str) and first[0]:
                asked.append(first[0][0])
            for prefix in dict.fromkeys(asked):
                if prefix:
                    await self._suggest(definition, prefix, limit)

    async def _suggest(self, definition: PropertyDefinition, prefix: str, limit: int) -> list[Any]:
        report = self.report
        where = f"suggestions for {definition.key} starting with {prefix!r}"
        try:
            answer = await self.manager.call_hook(
                self.name, "suggest_property_values", key=definition.key, prefix=prefix, limit=limit
            )
        except ProviderTimeout as exc:
            report.add("suggestions", f"{where}: {exc}")
            return []
        except Exception as exc:  # noqa: BLE001 - the provider's failure, reported
            report.add("suggestions", f"{where}: raised {describe_exception(exc)}")
            return []
        if answer is None:
            return []
        if isinstance(answer, str | bytes | Mapping) or not isinstance(answer, Sequence):
            report.add("suggestions", f"{where}: answered a {type(answer).__name__}, not a list")
            return []
        values = list(answer)
        if len(values) > limit:
            report.add("suggestions", f"{where}: {len(values)} values, more than the {limit} asked")
        for value in values:
            problem = _suggestion_problem(definition, value, self.settings)
            if problem:
                report.add("suggestions", f"{where}: {value!r} {problem}")
            elif isinstance(value, str) and not value.casefold().startswith(prefix.casefold()):
                report.add("suggestions", f"{where}: {value!r} does not start with the prefix")
        return values


async def _translation_problems(
    manager: PluginManager,
    name: str,
    database: Database,
    contexts: Sequence[EvaluationContext],
    text: str,
    settings: Settings,
) -> list[str]:
    """What is wrong with the provider's translation of the condition ``text`` (see the
    module's ``translations``): the query must select, among ``contexts``, exactly the
    subscribers the evaluation finds TRUE."""
    catalogue = manager.build_catalogue()
    validator = ConditionValidator(catalogue, currency=settings.currency, zone=settings.zone)
    try:
        outcome = validator.validate(parse(text))
    except TextFormError as exc:
        return [f"{text!r} does not parse: {exc}"]
    if outcome.errors:
        return [f"{text!r} is refused: " + "; ".join(e.message for e in outcome.errors)]
    leaves = iter_conditions(outcome.tree)
    if len(leaves) != 1:
        return [f"{text!r}: give one condition per text (a translation is of one condition)"]
    before = _last_error(manager, name)
    found = manager.condition_filter(catalogue, leaves[0])
    if found is None:
        after = _last_error(manager, name)  # set when the translation failed
        return [f"{text!r}: {after}"] if after and after != before else []
    if not found.complete:
        return []  # a superset, checked value by value: nothing to compare
    try:
        selected = await selected_ids(database.db, found)
    except Exception as exc:  # noqa: BLE001 - the database's refusal, reported
        return [f"{text!r}: the database refused the translation: {describe_exception(exc)}"]
    compiled = compile_segment(outcome.tree, catalogue, segment_id="contract")
    values = await manager.resolve(catalogue, list(contexts), list(compiled.keys))
    problems = []
    for context in contexts:
        truth = compiled.evaluate(values.get(context, {}), subscriber_id=context.subscriber_id)
        member = truth.truth is Truth.TRUE
        if member != (context.subscriber_id in selected):
            which = "leaves out" if member else "selects"
            problems.append(
                f"{text!r}: the translation {which} {_show(context)}, whom the evaluation "
                f"finds {truth.truth.value}"
            )
    return problems


def _last_error(manager: PluginManager, name: str) -> str | None:
    info = manager.info(name)
    return info.last_error if info is not None else None


def _type_problem(definition: PropertyDefinition, value: Any, settings: Settings) -> str | None:
    if value is MISSING or isinstance(value, Unknown):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a number"
    coerce = coercer_of(definition, timezone=settings.zone, currency=settings.currency)
    read = coerce(value)
    if isinstance(read, Unknown):
        return f"is not a valid {definition.type.value}: {read.detail}"
    return None


def _suggestion_problem(
    definition: PropertyDefinition, value: Any, settings: Settings
) -> str | None:
    if definition.type is PropertyType.LIST:
        return None if isinstance(value, str) else "is not a list item (a string)"
    if value is None or value is MISSING or isinstance(value, Unknown):
        return "is not a value"
    problem = _type_problem(definition, value, settings)
    if problem:
        return problem
    if definition.type is PropertyType.ENUM and value not in definition.enum_values:
        return f"is not spelled as declared ({', '.join(definition.enum_values)})"
    return None


try:
    import pytest
except ImportError:  # pragma: no cover - the kit's functions work without pytest
    pass
else:

    @pytest.fixture
    def provider_contract() -> Any:
        """:func:`check_provider`, as a fixture (``pytest_plugins = ["seggraph.testing"]``)."""
        return check_provider
