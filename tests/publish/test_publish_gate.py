"""The fail-closed gate, as a pure function over typed inputs."""

from __future__ import annotations

from witnessbox.catalog import Incident, Link, Role, Status, make_timespan
from witnessbox.publish.gate import ItemInfo, select


def _item(sha: str, parent: str | None = None, kind: str = "redacted", mt: str = "image/jpeg") -> ItemInfo:
    return ItemInfo(sha, parent, mt, kind if parent else "", lambda: b"")


def _inc(i: str, status: Status, *links: tuple[str, Role]) -> Incident:
    return Incident(id=i, title=i, time=make_timespan("2020-01-01"), place="", region="R", categories=("other",),
                    status=status, links=tuple(Link(s, r) for s, r in links))


ITEMS = {s.sha256: s for s in [
    _item("o1"), _item("d1a", "o1"), _item("d1b", "o1"),  # two derivatives of o1
    _item("o2"), _item("d2", "o2"),  # never approved
    _item("o3"), _item("t3", "o3", kind="thumbnail"),  # approved but not a redacted copy
    _item("o4", mt="application/pdf"), _item("d4", "o4", mt="application/pdf"),
]}
APPROVED = {"d1a": "2026-01-01T00:00:00", "d1b": "2026-01-02T00:00:00", "t3": "2026-01-01T00:00:00", "d4": "2026-01-01T00:00:00"}


def test_only_published_incidents_pass() -> None:
    incs = [_inc("a", Status.DRAFT, ("o1", Role.PRIMARY)), _inc("b", Status.VERIFIED), _inc("c", Status.PUBLISHED)]
    res = select(incs, ITEMS, APPROVED, allowed_kinds=frozenset({"redacted"}))
    assert [i.id for i in res.incidents] == ["c"]
    assert res.left_out == ()


def test_latest_approved_derivative_is_chosen_and_originals_never_pass() -> None:
    res = select([_inc("c", Status.PUBLISHED, ("o1", Role.PRIMARY))], ITEMS, APPROVED, allowed_kinds=frozenset({"redacted"}))
    (m,) = res.media["c"]
    assert m.derivative.sha256 == "d1b" and m.linked_item == "o1" and m.role == Role.PRIMARY


def test_every_refusal_is_reported_with_a_reason() -> None:
    inc = _inc("c", Status.PUBLISHED, ("o2", Role.PRIMARY), ("o3", Role.CONTEXT), ("o4", Role.CONTEXT),
               ("zz", Role.CONTEXT), ("d2", Role.CONTEXT))
    res = select([inc], ITEMS, APPROVED, allowed_kinds=frozenset({"redacted"}))
    assert res.media["c"] == ()
    reasons = {lo.item: lo.reason for lo in res.left_out}
    assert "no approved redacted derivative" in reasons["o2"]
    assert "no approved redacted derivative" in reasons["o3"]  # a thumbnail is not redacted
    assert "not an image or a video" in reasons["o4"]
    assert "not in the archive" in reasons["zz"]
    assert "not approved" in reasons["d2"]


def test_linking_an_approved_derivative_directly_works_once() -> None:
    inc = _inc("c", Status.PUBLISHED, ("d1a", Role.PRIMARY), ("o1", Role.CONTEXT), ("d1b", Role.CONTEXT))
    res = select([inc], ITEMS, APPROVED, allowed_kinds=frozenset({"redacted"}))
    assert [m.derivative.sha256 for m in res.media["c"]] == ["d1a", "d1b"]  # d1b once, though reached twice
