"""The property catalogue, the providers and property values in GraphQL."""
