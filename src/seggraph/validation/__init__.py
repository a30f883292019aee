"""Validation of user input against the catalogue and the spec, before anything is written."""
