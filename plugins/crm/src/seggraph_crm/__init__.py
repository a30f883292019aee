"""seggraph's bundled HubSpot-like CRM provider (see ``plugins/crm/README.md``)."""

__version__ = "0.1.0"
