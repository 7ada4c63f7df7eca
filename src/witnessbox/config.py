"""Settings: where things are, read from the environment with safe defaults."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

DEFAULT_ARCHIVE = Path("witnessbox-archive")
ENV_ARCHIVE = "WITNESSBOX_ARCHIVE"
ENV_PASSPHRASE = "WITNESSBOX_PASSPHRASE"
ENV_ACTOR = "WITNESSBOX_ACTOR"
ENV_DATA = "WITNESSBOX_DATA"
ENV_DATABASE_URL = "WITNESSBOX_DATABASE_URL"
ENV_EXECUTOR = "WITNESSBOX_EXECUTOR"
ENV_STORE_URL = "WITNESSBOX_STORE_URL"
ENV_CACHE = "WITNESSBOX_CACHE"


def archive_path(explicit: Path | None = None) -> Path:
    """The archive folder: ``explicit``, else ``$WITNESSBOX_ARCHIVE``, else ``./witnessbox-archive``."""
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV_ARCHIVE)
    return Path(env) if env else DEFAULT_ARCHIVE


def passphrase_from_env() -> str | None:
    """The archive passphrase from ``$WITNESSBOX_PASSPHRASE``, or None (then the CLI prompts)."""
    return os.environ.get(ENV_PASSPHRASE)


# The web app serves several signed-in people from one process: each request acts as its
# own user (a context variable follows the request into its worker thread).
_ACTING_AS: ContextVar[str | None] = ContextVar("witnessbox_acting_as", default=None)


@contextlib.contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Within this block (and this thread or task) :func:`actor` is ``name``."""
    token = _ACTING_AS.set(name)
    try:
        yield
    finally:
        _ACTING_AS.reset(token)


def actor() -> str:
    """Who acts, for the custody log: the web user acting now, else ``$WITNESSBOX_ACTOR``,
    else the login name."""
    acting = _ACTING_AS.get()
    if acting:
        return acting
    env = os.environ.get(ENV_ACTOR)
    if env:
        return env
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers without a passwd entry for the uid
        return "unknown"



def database_url() -> str | None:
    """The catalog database: ``$WITNESSBOX_DATABASE_URL`` (``postgresql+psycopg://...``), or
    None for the SQLite file inside the archive (the default)."""
    return os.environ.get(ENV_DATABASE_URL) or None


def executor_name() -> str:
    """Where batch work runs: ``$WITNESSBOX_EXECUTOR`` (``local`` or ``ray``), default ``local``."""
    return (os.environ.get(ENV_EXECUTOR) or "local").strip().lower()


def store_url() -> str | None:
    """Where blobs live: ``$WITNESSBOX_STORE_URL`` (``s3://BUCKET/PREFIX``), or None for the
    archive folder (the default). Fixed at ``init`` (``store.json``)."""
    return (os.environ.get(ENV_STORE_URL) or "").strip() or None


def cache_dir() -> Path:
    """Where witnessbox keeps what it generates for itself and can regenerate (the int8 face
    detector): ``$WITNESSBOX_CACHE``, else ``$XDG_CACHE_HOME/witnessbox``, else
    ``~/.cache/witnessbox``. Never holds anything of the archive."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "witnessbox"
