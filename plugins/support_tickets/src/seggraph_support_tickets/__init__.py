"""An example seggraph provider: support-ticket properties (see ``plugins/support_tickets``)."""

__version__ = "0.1.0"
