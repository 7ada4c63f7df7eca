"""Proposals for mapping free-text units of observations to the vocabulary (``unit resolve``).

Nothing here changes the catalog: it only ranks candidates, each with the reason it matched,
so a documenter confirms every mapping (nothing is guessed silently). Keys, strongest first:

- ``same``: equal after NFC, case folding and the be/ru letter pairs (ё/е, і/и, ў/у, ъ and
  apostrophes dropped), ignoring punctuation and spacing;
- ``transliteration``: equal once both are written in Latin letters (ОМОН = OMON);
- ``similar``: close transliterations (difflib ratio at least 0.85), or one containing the other.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .units import FreeText, Unit, transliterate

_PAIRS = str.maketrans({"ё": "е", "і": "и", "ў": "у", "ъ": None, "'": None, "’": None, "ʼ": None, "`": None})
_LATIN_VARIANTS = (("kh", "h"), ("ts", "c"), ("iu", "u"), ("ia", "a"), ("io", "o"), ("ie", "e"), ("y", "i"), ("j", "i"),
                   ("w", "v"), ("x", "ks"))
SIMILAR_RATIO = 0.85
# Latin letters that look like Cyrillic ones, typed by mistake inside a Cyrillic word ("минскi").
_HOMOGLYPHS = str.maketrans("aceiopxykmthb", "асеиорхукмтнв")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def fold(text: str) -> str:
    """Case, be/ru letter pairs, look-alike Latin letters in Cyrillic words and punctuation folded away."""
    t = unicodedata.normalize("NFC", text).casefold()
    words = re.sub(r"[^\w'’ʼ`]+", " ", t).split()
    words = [w.translate(_HOMOGLYPHS) if _CYRILLIC.search(w) else w for w in words]
    return " ".join(w.translate(_PAIRS) for w in words)


def latin_key(text: str) -> str:
    """The folded text in Latin letters with common transliteration variants merged."""
    t = re.sub(r"[^a-z0-9]+", "", transliterate(fold(text)))
    for a, b in _LATIN_VARIANTS:
        t = t.replace(a, b)
    return t


@dataclass(frozen=True, slots=True)
class Proposal:
    """A vocabulary unit that may be what a free-text value means, and why."""

    slug: str
    name: str
    reason: str  # same, transliteration or similar
    matched: str  # the name or slug of the unit that matched


@dataclass(frozen=True, slots=True)
class Resolution:
    """One free-text value, how many observations carry it, and the proposals (best first)."""

    value: str
    count: int
    proposals: tuple[Proposal, ...]


_RANK = {"same": 0, "transliteration": 1, "similar": 2}


def propose(values: Sequence[FreeText], vocabulary: Sequence[Unit], *, limit: int = 5) -> list[Resolution]:
    """Rank vocabulary units for each free-text value (no change is made)."""
    keys: list[tuple[Unit, str, str, str]] = []
    for u in vocabulary:
        for label in (*u.names(), u.slug):
            keys.append((u, label, fold(label), latin_key(label)))
    out = []
    for ft in values:
        f, lat = fold(ft.value), latin_key(ft.value)
        best: dict[str, Proposal] = {}
        for u, label, kf, kl in keys:
            if f and f == kf:
                reason = "same"
            elif lat and lat == kl:
                reason = "transliteration"
            elif lat and kl and (
                difflib.SequenceMatcher(None, lat, kl).ratio() >= SIMILAR_RATIO
                or (min(len(lat), len(kl)) >= 4 and (lat in kl or kl in lat))
            ):
                reason = "similar"
            else:
                continue
            old = best.get(u.slug)
            if old is None or _RANK[reason] < _RANK[old.reason]:
                best[u.slug] = Proposal(u.slug, u.name("en"), reason, label)
        ranked = sorted(best.values(), key=lambda p: (_RANK[p.reason], p.slug))[:limit]
        out.append(Resolution(ft.value, ft.count, tuple(ranked)))
    return out


def unambiguous_same(resolutions: Sequence[Resolution]) -> dict[str, str]:
    """Value -> slug where exactly one unit is the ``same`` (for an explicit ``--accept-same``)."""
    out = {}
    for r in resolutions:
        same = [p for p in r.proposals if p.reason == "same"]
        if len(same) == 1:
            out[r.value] = same[0].slug
    return out
