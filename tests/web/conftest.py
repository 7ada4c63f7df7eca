"""Fixtures of the web tests; they live in ``web_helpers`` (test modules import that module, never
``conftest``, whose name other test folders share)."""

from web_helpers import app, clients, clock, world  # noqa: F401  (fixtures)
