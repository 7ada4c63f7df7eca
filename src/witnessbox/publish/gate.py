"""The fail-closed publication gate: which media of which incidents may go public.

Only incidents whose status is ``published`` pass. For each item linked to such an incident,
the gate picks an *approved derivative* (a redacted copy a person reviewed): the linked item
itself when it is an approved derivative, else the most recently approved derivative whose
parent is the linked item. Originals never pass. Anything that does not pass is reported as a
:class:`LeftOut` with its reason; nothing is ever let through by default.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..catalog import Incident, Role, Status

PUBLISHABLE_TYPES = ("image/", "video/")


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """What the gate needs to know of an archive item (built by the workspace from its record).

    ``parent`` is None for an original; ``kind`` is the derivative kind (e.g. ``redacted``);
    ``read`` returns the plaintext bytes of the item.
    """

    sha256: str
    parent: str | None
    media_type: str
    kind: str
    read: Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class MediaSource:
    """An approved derivative cleared for one incident, with the role of its link."""

    incident_id: str
    linked_item: str
    derivative: ItemInfo
    role: Role


@dataclass(frozen=True, slots=True)
class LeftOut:
    """Linked media that will not be published, and why."""

    incident_id: str
    item: str
    reason: str

    def __str__(self) -> str:
        return f"incident {self.incident_id}: item {self.item[:16]}: {self.reason}"


@dataclass(frozen=True, slots=True)
class GateResult:
    """Published incidents (sorted by time) with their media, and every left-out item."""

    incidents: tuple[Incident, ...]
    media: Mapping[str, tuple[MediaSource, ...]]
    left_out: tuple[LeftOut, ...]


def select(
    incidents: Sequence[Incident],
    items: Mapping[str, ItemInfo],
    approvals: Mapping[str, str],
    *,
    allowed_kinds: frozenset[str] | None = None,
) -> GateResult:
    """Apply the gate.

    Args:
        incidents: Every incident of the catalog (non-published ones are dropped here).
        items: Every archive item by sha256.
        approvals: Approved derivative sha256 -> approval time (ISO 8601).
        allowed_kinds: Derivative kinds that may be published (None: any derivative kind).

    Returns:
        The published incidents, their cleared media and every left-out link.
    """
    children: dict[str, list[ItemInfo]] = defaultdict(list)
    for it in items.values():
        if it.parent is not None:
            children[it.parent].append(it)
    published = sorted(
        (i for i in incidents if i.status == Status.PUBLISHED), key=lambda i: (i.time.sort_key(), i.id)
    )
    media: dict[str, tuple[MediaSource, ...]] = {}
    left: list[LeftOut] = []
    for inc in published:
        chosen: list[MediaSource] = []
        seen: set[str] = set()
        for link in inc.links:
            found = items.get(link.item)
            if found is None:
                left.append(LeftOut(inc.id, link.item, "not in the archive"))
                continue
            it = found
            candidates = [it] if it.parent is not None else children.get(it.sha256, [])
            ok = [
                c
                for c in candidates
                if c.sha256 in approvals and (allowed_kinds is None or c.kind in allowed_kinds)
            ]
            if not ok:
                why = (
                    "the linked derivative is not approved (run `witnessbox approve ID` after review)"
                    if it.parent is not None
                    else "no approved redacted derivative (redact it, review, then `witnessbox approve ID`)"
                )
                left.append(LeftOut(inc.id, link.item, why))
                continue
            best = max(ok, key=lambda c: (approvals[c.sha256], c.sha256))
            if not best.media_type.startswith(PUBLISHABLE_TYPES):
                left.append(LeftOut(inc.id, link.item, f"type {best.media_type} is not an image or a video"))
                continue
            if best.sha256 in seen:
                continue
            seen.add(best.sha256)
            chosen.append(MediaSource(inc.id, link.item, best, link.role))
        media[inc.id] = tuple(chosen)
    return GateResult(tuple(published), media, tuple(left))
