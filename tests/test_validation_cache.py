"""The validation cache finds a document by identity: the same parsed document hits, another
document (even of the same text), other rules or another schema are validated afresh."""

from __future__ import annotations

from graphql import GraphQLError, NoSchemaIntrospectionCustomRule, parse, specified_rules

from seggraph.api.schema import build_schema, schema
from seggraph.api.validation_cache import ValidationMemo

QUERY = "{ segments { totalCount } }"
BAD = "{ segments { nope } }"
#: The rules Strawberry validates every request with (the extensions add their own).
RULES = tuple(specified_rules)


def test_the_same_document_is_validated_once() -> None:
    memo = ValidationMemo(maxsize=8)
    document = parse(QUERY)
    first = memo.validate(schema._schema, document, RULES)
    again = memo.validate(schema._schema, document, RULES)
    assert first == again == []
    assert (memo.hits, memo.misses) == (1, 1)


def test_errors_are_kept_and_given_again() -> None:
    memo = ValidationMemo(maxsize=8)
    document = parse(BAD)
    errors = memo.validate(schema._schema, document, RULES)
    assert [e.message for e in errors] == [
        "Cannot query field 'nope' on type 'SegmentConnection'. Did you mean 'nodes'?"
    ]
    assert memo.validate(schema._schema, document, RULES) == errors
    assert (memo.hits, memo.misses) == (1, 1)


def test_another_document_other_rules_or_another_schema_are_validated_afresh() -> None:
    memo = ValidationMemo(maxsize=8)
    introspection = "{ __schema { queryType { name } } }"
    document = parse(introspection)
    assert memo.validate(schema._schema, document, RULES) == []
    # The same text parsed again is another document: validated, not guessed from the text.
    assert memo.validate(schema._schema, parse(introspection), RULES) == []
    refused = memo.validate(schema._schema, document, (*RULES, NoSchemaIntrospectionCustomRule))
    assert all(isinstance(e, GraphQLError) for e in refused)
    assert "introspection has been disabled" in refused[0].message
    assert memo.validate(build_schema()._schema, document, RULES) == []
    assert (memo.hits, memo.misses) == (0, 4)


def test_the_least_recently_used_document_is_forgotten() -> None:
    memo = ValidationMemo(maxsize=2)
    a, b, c = parse(QUERY), parse(BAD), parse("{ __typename }")
    for document in (a, b, a, c):  # c pushes out b, the least recently used
        memo.validate(schema._schema, document, RULES)
    assert (memo.hits, memo.misses) == (1, 3)
    memo.validate(schema._schema, a, RULES)
    memo.validate(schema._schema, b, RULES)
    assert (memo.hits, memo.misses) == (2, 4)
