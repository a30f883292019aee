"""The GraphQL adapter: Strawberry types that map onto the services, split by domain."""
