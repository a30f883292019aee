"""Async services: the I/O around the pure core, called by GraphQL, HTTP routes and the CLI."""
