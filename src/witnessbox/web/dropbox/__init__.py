"""The drop box's public web app (issue 15): see :mod:`.app` and ``docs/dropbox.md``."""

from .app import ROUTES, DropBoxConfig, create_app, serve

__all__ = ["ROUTES", "DropBoxConfig", "create_app", "serve"]
