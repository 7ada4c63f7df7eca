"""One entry point: the content fingerprints of any file, photo or video."""

from __future__ import annotations

from pathlib import Path

import av
import cv2

from .image import NotAnImage, fingerprint_image
from .records import Fingerprints
from .video import NotAVideo, fingerprint_video


def fingerprint_file(path: Path, *, flips: bool = True) -> Fingerprints:
    """Fingerprints of a photo or a video; never raises for bad media.

    A file that is neither, is corrupt, blank, tiny, huge or a one-frame video comes back with
    ``reason`` set and is never used for matching.

    Args:
        path: The file.
        flips: Also hash the mirrored frames (needed to find flipped copies; the archive stores
            them to query with, the index holds only the unmirrored ones).
    """
    path = Path(path)
    try:
        try:
            return fingerprint_image(path, flips=flips)
        except NotAnImage:
            pass
        return fingerprint_video(path, flips=flips)
    except NotAVideo:
        return Fingerprints("none", (), reason="not a photo or video that can be decoded")
    except OSError as e:
        return Fingerprints("none", (), reason=f"cannot read the file: {e.strerror or e}")
    except (ValueError, RuntimeError, ArithmeticError, IndexError, SyntaxError, av.FFmpegError, cv2.error) as e:
        # Hostile or broken media reaches decoders (PIL, FFmpeg, OpenCV) in ways no list of
        # formats foresees; the contract is a reason, never a crash of the sealing that called us.
        return Fingerprints("none", (), reason=f"cannot fingerprint this file ({type(e).__name__}: {e})")
