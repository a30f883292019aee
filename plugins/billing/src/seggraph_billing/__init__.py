"""seggraph's bundled Stripe-like billing provider (see ``plugins/billing/README.md``)."""

__version__ = "0.1.0"
