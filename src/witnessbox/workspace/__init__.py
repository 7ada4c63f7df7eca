"""The workspace: one open archive and the use cases over it (see docs/architecture.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Workspace

__all__ = ["Workspace"]


def __getattr__(name: str) -> Any:
    # Lazy so that importing a capability module does not pull the whole archive in.
    if name == "Workspace":
        from .core import Workspace

        return Workspace
    raise AttributeError(name)
