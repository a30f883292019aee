"""seggraph's bundled Segment-like CDP provider (see ``plugins/cdp/README.md``)."""

__version__ = "0.1.0"
