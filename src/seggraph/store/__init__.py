"""MongoDB persistence: documents in, domain objects out, at this package's edge."""
