"""Typed records of the trace package: fingerprints of one file, matches, groups of copies.

Fingerprints describe content (what the pixels look like), never people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .features import FrameFeatures
from .pdq import MIN_QUALITY

#: Bumped whenever the way hashes are computed changes; older rows are recomputed by reindex.
FINGERPRINT_VERSION = 1

MediaKind = Literal["photo", "video", "none"]

#: Regions hashed in every frame, as fractions (x0, y0, x1, y1) of the border-trimmed frame.
#: Only the whole frame: PDQ moves by ~30 of 256 bits when the picture shifts by 1% of its
#: width, so a grid of crop hashes would need thousands of cells to catch a 15% crop; local
#: features (``features.py``) catch crops instead. The field stays so that rows can name a
#: region if a later version hashes some (see docs/trace.md).
REGIONS: tuple[tuple[float, float, float, float], ...] = ((0.0, 0.0, 1.0, 1.0),)


@dataclass(frozen=True)
class FrameHash:
    """One PDQ hash of one region of one frame (or of a run of near-identical frames).

    Attributes:
        pdq: 32 bytes, canonical PDQ bit order (``pdq.hex()`` is the reference hex string).
        quality: PDQ quality 0..100; below :data:`~witnessbox.trace.pdq.MIN_QUALITY` it is
            never used for matching.
        start: First second this hash stands for (0 for photos).
        end: Last second this hash stands for (0 for photos).
        region: Index into :data:`REGIONS` (0: whole frame).
        flipped: Hash of the horizontally mirrored region (used to query, never indexed).
    """

    pdq: bytes
    quality: int
    start: float = 0.0
    end: float = 0.0
    region: int = 0
    flipped: bool = False

    @property
    def usable(self) -> bool:
        """Whether this hash may be used for matching."""
        return self.quality >= MIN_QUALITY


@dataclass(frozen=True)
class Fingerprints:
    """All content fingerprints of one file.

    Attributes:
        kind: ``photo``, ``video`` or ``none`` (not decodable as either).
        hashes: Every hash computed (usable or not), in time order for video.
        reason: Why this file cannot be matched (corrupt, blank, tiny, one frame...), else None.
        width: Frame width in pixels (0 when unknown).
        height: Frame height in pixels (0 when unknown).
        duration: Seconds of video (0 for photos).
        version: :data:`FINGERPRINT_VERSION` that computed them.
        features: ORB features of some frames (photos: one; video: about one per second).
    """

    kind: MediaKind
    hashes: tuple[FrameHash, ...]
    reason: str | None = None
    width: int = 0
    height: int = 0
    duration: float = 0.0
    version: int = FINGERPRINT_VERSION
    features: tuple[FrameFeatures, ...] = ()

    @property
    def usable(self) -> bool:
        """Whether any hash of this file may be used for matching."""
        return self.reason is None and any(h.usable for h in self.hashes)

    def matchable(self, *, flipped: bool | None = None) -> tuple[FrameHash, ...]:
        """The hashes used for matching (none when the file carries a reason).

        Args:
            flipped: Only mirrored (True) or only unmirrored (False) hashes; None for both.
        """
        if self.reason is not None:
            return ()
        return tuple(
            h for h in self.hashes if h.usable and (flipped is None or h.flipped == flipped)
        )

    def matchable_features(self, *, flipped: bool | None = None) -> tuple[FrameFeatures, ...]:
        """The local features used for matching (none when the file carries a reason)."""
        if self.reason is not None:
            return ()
        return tuple(f for f in self.features if flipped is None or f.flipped == flipped)


@dataclass(frozen=True)
class TimeRange:
    """Seconds ``start..end`` of a video (both 0 for a photo)."""

    start: float
    end: float


@dataclass(frozen=True)
class Match:
    """One archive item that contains the same content as the query.

    Attributes:
        key: Identifier of the matched item (the archive uses its SHA-256).
        score: 0..1; for photos ``1 - distance/256`` of the best pair, for video the share of
            query samples found in the matched range, times that similarity.
        distance: Smallest Hamming distance of a matching PDQ pair (0..256); 256 when only
            local features matched.
        method: ``pdq`` (whole-frame or region hashes) or ``features`` (ORB, verified).
        flipped: The copy is mirrored relative to the item.
        query_range: Matched seconds of the query (video), or None.
        item_range: Matched seconds of the item (video), or None.
        matched_samples: Query samples (frames) that matched in the range.
    """

    key: str
    score: float
    distance: int
    method: str
    flipped: bool
    query_range: TimeRange | None
    item_range: TimeRange | None
    matched_samples: int
