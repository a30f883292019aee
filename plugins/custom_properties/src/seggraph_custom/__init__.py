"""seggraph's bundled custom properties provider (see ``plugins/custom_properties/README.md``)."""

__version__ = "0.1.0"
