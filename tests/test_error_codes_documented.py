"""Every error code the code base can answer is documented where a client reads it.

Frontends branch on ``userErrors[].code``, on ``extensions.code`` and on the ingestion routes'
``{"error": {"code": …}}``: a code made in the sources but named in no description or README
is one a frontend learns of only when it meets it. The codes are found by reading the sources
(not by a list kept beside them, which would go stale the same way the docs did)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")

#: Where a code is the argument at this position (or the keyword ``code``) of a call of this
#: name: a refusal of part of an input, answered in ``userErrors`` (or, by a query, in
#: ``errors``), which the schema's descriptions document.
INPUT_REFUSALS = {"UserError": 1, "ValueRefused": 1, "refuse": 1, "_unavailable_errors": 1}
#: A refusal of a whole request (GraphQL's protocol, an ingestion route), documented in
#: README.md or the plugin's README.
REQUEST_REFUSALS = {
    "RequestRefused": 1,
    "send_error": 3,
    "error_body": 2,
    "IngestError": 1,
    "_error": 1,
}

#: Made in the sources but never answered to a client, so documented nowhere on purpose.
NEVER_ANSWERED = {
    # SegmentService.copy_to_mode's guard: copySegmentToMode always copies from the mode
    # other than its mode argument.
    "SAME_MODE",
    # `seggraph import billing` reports a bad line by its message alone.
    "UNSUPPORTED_OBJECT",
    # The billing webhook before its plugin's start-up bound the store: routes are served only
    # after the start-up.
    "NOT_READY",
}


def _sources() -> list[Path]:
    return sorted((ROOT / "src").rglob("*.py")) + sorted(ROOT.glob("plugins/*/src/**/*.py"))


def _literals(node: ast.AST | None, constants: dict[str, str]) -> list[str]:
    """The codes ``node`` may be: a string literal, a module constant, either of a ternary."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if CODE.match(node.value) else []
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.IfExp):
        return _literals(node.body, constants) + _literals(node.orelse, constants)
    return []


def produced() -> dict[str, dict[str, set[str]]]:
    """``{"input" | "request": {code: {"file:line", …}}}``: every code the sources set."""
    found: dict[str, dict[str, set[str]]] = {"input": defaultdict(set), "request": defaultdict(set)}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(ROOT))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }

        def add(kind: str, node: ast.AST | None) -> None:
            for code in _literals(node, constants):  # noqa: B023 - used at once
                found[kind][code].add(f"{where}:{getattr(node, 'lineno', '?')}")  # noqa: B023

        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func).rsplit(".", 1)[-1]
                for table, kind in ((INPUT_REFUSALS, "input"), (REQUEST_REFUSALS, "request")):
                    if name in table:
                        index = table[name]
                        add(kind, node.args[index] if len(node.args) > index else None)
                        for keyword in node.keywords:
                            if keyword.arg == "code":
                                add(kind, keyword.value)
            elif isinstance(node, ast.Dict):  # {"code": …}: a GraphQL error's extensions, a body
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "code":
                        add("request", value)
            elif isinstance(node, ast.Assign):  # status, code = 503, "DATABASE_UNAVAILABLE"
                for target in node.targets:
                    names = target.elts if isinstance(target, ast.Tuple) else [target]
                    values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                    for name_node, value in zip(names, values, strict=False):
                        if isinstance(name_node, ast.Name) and name_node.id == "code":
                            add("request", value)
            elif isinstance(node, ast.FunctionDef) and node.name == "code_of":
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Return):
                        add("request", inner.value)
    return found


def _named(code: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){code}(?![A-Za-z0-9_])", text) is not None


def _in_backticks(markdown: str) -> str:
    """The code spans of a Markdown file: where its codes are written."""
    return "\n".join(re.findall(r"`([^`\n]+)`", markdown))


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_scan_finds_the_codes_it_should() -> None:
    """A scan that found nothing would let every code go undocumented unnoticed."""
    found = produced()
    assert {"VERSION_CONFLICT", "NOT_FOUND", "TOO_LONG", "REFERENCE_CYCLE"} <= set(found["input"])
    assert {
        "OVERLOADED",
        "QUERY_TOO_LARGE",
        "DATABASE_UNAVAILABLE",
        "INTERNAL_SERVER_ERROR",
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_SIGNATURE",
        "UNAUTHORIZED",
    } <= set(found["request"])


def test_every_code_an_input_is_refused_with_is_named_in_the_schema() -> None:
    """deleteSegment's DELETE_IN_PROGRESS and DELETE_TIMED_OUT, copySegmentToMode's
    DUPLICATE_COPIES and the EMPTY_GROUP warning were in README.md alone: GraphiQL, where a
    frontend developer reads what a mutation answers, named none of them."""
    schema = _read(ROOT / "schema.graphql")
    missing = {
        code: sorted(where)
        for code, where in produced()["input"].items()
        if code not in NEVER_ANSWERED and not _named(code, schema)
    }
    assert missing == {}


def test_every_code_a_request_is_refused_with_is_in_the_readme_or_the_schema() -> None:
    docs = _read(ROOT / "schema.graphql") + _in_backticks(_read(ROOT / "README.md"))
    docs += "".join(_in_backticks(_read(path)) for path in sorted(ROOT.glob("docs/*.md")))
    plugin_docs = {
        path.parent.name: _in_backticks(_read(path))
        for path in sorted(ROOT.glob("plugins/*/README.md"))
    }
    missing: dict[str, list[str]] = {}
    for code, where in produced()["request"].items():
        plugins = {w.split("/")[1] for w in where if w.startswith("plugins/")}
        text = docs + "".join(plugin_docs.get(plugin, "") for plugin in plugins)
        if code not in NEVER_ANSWERED and not _named(code, text):
            missing[code] = sorted(where)
    assert missing == {}
