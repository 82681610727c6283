"""Implementations of the `python -m todo_api` commands."""
