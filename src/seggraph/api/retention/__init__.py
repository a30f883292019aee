"""Retention events over GraphQL: ``recordRetentionEvent`` and ``retentionEvents``."""
