"""The database URI as the log and start-up refusals show it: never with its password."""

from __future__ import annotations

import pytest
from pymongo import uri_parser

from seggraph.db import redact_uri


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://db.example:27017/", "mongodb://db.example:27017/"),
        ("mongodb://alice@db.example/", "mongodb://alice@db.example/"),
        ("mongodb://alice:hunter2@db.example/", "mongodb://alice:***@db.example/"),
        # PyMongo takes the user information up to the last @ before the first / or ?: a `#`
        # in the password is no fragment to it, and the password must not be shown either.
        ("mongodb://alice:hun#ter2@db.example/app", "mongodb://alice:***@db.example/app"),
        ("mongodb://alice:hunter2#@db.example/", "mongodb://alice:***@db.example/"),
        (
            "mongodb://alice:hunter2@a:27017,b:27018/app?replicaSet=rs",
            "mongodb://alice:***@a:27017,b:27018/app?replicaSet=rs",
        ),
        (
            "mongodb+srv://alice:hun%40ter2@cluster.example/",
            "mongodb+srv://alice:***@cluster.example/",
        ),
        (
            "mongodb://db.example/?tls=true&tlsCertificateKeyFilePassword=hunter2",
            "mongodb://db.example/?tls=true&tlsCertificateKeyFilePassword=***",
        ),
        (
            "mongodb://AKIA:hunter2@db.example/?authMechanism=MONGODB-AWS"
            "&authMechanismProperties=AWS_SESSION_TOKEN:hunter2",
            "mongodb://AKIA:***@db.example/?authMechanism=MONGODB-AWS"
            "&authMechanismProperties=AWS_SESSION_TOKEN:***",
        ),
    ],
)
def test_the_password_and_secret_options_are_replaced(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown
    assert "hunter2" not in redact_uri(uri)


def test_a_password_with_a_hash_is_one_pymongo_connects_with() -> None:
    """The case is real: PyMongo accepts the URI, so the server logs it at start-up."""
    parsed = uri_parser.parse_uri("mongodb://alice:hun#ter2@db.example/", connect_timeout=None)
    assert parsed["password"] == "hun#ter2"
    assert "hun#ter2" not in redact_uri("mongodb://alice:hun#ter2@db.example/")
