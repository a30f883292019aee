"""Who a property value is asked for."""

from __future__ import annotations

from dataclasses import dataclass

#: The longest subscriber or subscription id seggraph takes, wherever one comes in: a query
#: argument (``seggraph.api.subjects``), a custom property value's subject, a CDP message's
#: ``userId``. A longer one is refused rather than echoed, stored or sent to providers.
MAX_SUBJECT_ID = 256


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """A subscriber (a billing customer, by id) and, optionally, one of its subscriptions.

    With no ``subscription_id`` the subscriber's primary subscription is meant (see the
    property spec); providers decide what that is for their own data. Hashable, so it keys the
    mappings a provider returns.
    """

    subscriber_id: str
    subscription_id: str | None = None
