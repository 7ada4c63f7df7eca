"""Fingerprints of video: frames decoded with PyAV, sampled densely, near-repeats dropped.

Every :data:`SAMPLE_EVERY` seconds one decoded frame is hashed (all regions, see
:data:`~witnessbox.trace.records.REGIONS`). When a sampled frame's whole-frame hash is within
:data:`DEDUP_DISTANCE` of the last kept one, it is dropped and the kept one's time range is
extended instead, so a static shot costs one row however long it lasts.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from . import pdq
from .image import frame_hashes
from .features import FrameFeatures
from .records import FrameHash, Fingerprints

#: Seconds between sampled frames (5 per second: a 1 s clip of a re-upload still has 5).
SAMPLE_EVERY = 0.2
#: A sampled frame whose whole-frame hash is this close to the last kept one is dropped.
DEDUP_DISTANCE = 10
#: Seconds between frames whose local features are kept (they cost more than hashes).
FEATURES_EVERY = 1.0
#: Frames are decoded scaled so that the long side is at most this (swscale does it cheaply).
_DECODE_SIDE = pdq.WORK_SIDE * 2


class NotAVideo(Exception):
    """Internal: the file has no video stream PyAV can open."""


def _scaled(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, _DECODE_SIDE / max(width, height, 1))
    # Even sizes: some pixel formats need them.
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def fingerprint_video(
    path: Path, *, flips: bool = True, sample_every: float = SAMPLE_EVERY
) -> Fingerprints:
    """Fingerprints of a video; a file that cannot be used gets a reason, never an exception.

    Raises:
        NotAVideo: No decodable video stream (the caller reports the file as neither kind).
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as e:
        raise NotAVideo(str(e)) from e
    with container:
        if not container.streams.video:
            raise NotAVideo("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        groups: list[list[FrameHash]] = []
        feats: list[FrameFeatures] = []
        next_feat = 0.0
        reasons: list[str] = []
        decoded = 0
        next_t = 0.0
        last_t = 0.0
        last_kept: bytes | None = None
        error: str | None = None
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else decoded / rate
                decoded += 1
                last_t = max(last_t, t)
                if t + 1e-6 < next_t:
                    continue
                next_t = t + sample_every
                w, h = _scaled(frame.width, frame.height)
                rgb: pdq.RGB = np.ascontiguousarray(frame.to_ndarray(format="rgb24", width=w, height=h), np.uint8)
                prepared = pdq.prepare(rgb)
                if min(prepared.shape[:2]) < pdq.MIN_SIDE // 2:
                    reasons.append("the picture is blank (all black)")
                    continue
                full, _ = pdq.hash_frame(prepared)
                if last_kept is not None and pdq.distance(full, last_kept) <= DEDUP_DISTANCE:
                    groups[-1] = [
                        FrameHash(fh.pdq, fh.quality, fh.start, t, fh.region, fh.flipped) for fh in groups[-1]
                    ]
                    continue
                want_feat = t + 1e-6 >= next_feat
                hashes, frame_feats, why = frame_hashes(rgb, start=t, end=t, flips=flips, features=want_feat)
                if frame_feats:
                    feats.extend(frame_feats)
                    next_feat = t + FEATURES_EVERY
                if why is not None:
                    reasons.append(why)
                if hashes:
                    groups.append(list(hashes))
                    last_kept = full
        except (av.FFmpegError, ValueError) as e:
            # A truncated upload: keep what decoded, say why the rest is missing.
            error = f"decoding stopped at {last_t:.1f} s: {e}"
    duration = last_t + 1.0 / rate if decoded else 0.0
    flat = tuple(h for g in groups for h in g)
    reason: str | None = None
    if decoded == 0:
        reason = error or "the video has no decodable frames"
    elif decoded == 1:
        reason = "the video has a single frame: too little to match reliably"
    elif not any(h.usable for h in flat):
        reason = "no frame is usable: " + (reasons[0] if reasons else "all are nearly uniform")
    return Fingerprints(
        "video", flat, reason=reason, width=width, height=height, duration=duration, features=tuple(feats)
    )
