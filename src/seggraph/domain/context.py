"""Who a property value is asked for."""

from __future__ import annotations

from dataclasses import dataclass

#: The longest subscriber or subscription id seggraph takes, wherever one comes in: a query
#: argument (``seggraph.api.subjects``), a custom property value's subject, a CDP message's
#: ``userId``. A longer one is refused rather than echoed, stored or sent to providers.
MAX_SUBJECT_ID = 256


def trimmed_id(text: str) -> str:
    """An id as seggraph keeps and compares it: without surrounding whitespace (``str.strip``),
    inner whitespace kept. Every id that comes in is trimmed so (an argument naming a
    subscriber, subscription or segment, ``seggraph.api.subjects``; a custom property value's
    subject; a CDP ``userId``; a ticket's ``subscriber_id``; a CRM ``external_id``; a retention
    event's ``subscriberId``), so that one written with surrounding whitespace is found by the
    id without it, and the other way round; one empty once trimmed is blank. Billing refuses a
    padded id instead (no billing system makes one)."""
    return text.strip()


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """A subscriber (a billing customer, by id) and, optionally, one of its subscriptions.

    With no ``subscription_id`` the subscriber's primary subscription is meant (see the
    property spec); providers decide what that is for their own data. Hashable, so it keys the
    mappings a provider returns.
    """

    subscriber_id: str
    subscription_id: str | None = None
