"""Copy and re-upload tracing: content fingerprints (PDQ) and their index. Never people.

The package knows nothing of the archive: it turns files into :class:`Fingerprints` and finds
:class:`Match` es in a :class:`FingerprintIndex`. ``witnessbox.workspace.tracing`` stores the
fingerprints in the catalog and rebuilds the index from it. Format: docs/trace.md.
"""

from __future__ import annotations

from .fingerprint import fingerprint_file
from .index import FaissHashIndex, HashIndex, NumpyHashIndex, faiss_available, make_index
from .match import MATCH_DISTANCE, FingerprintIndex, copy_groups
from .records import FINGERPRINT_VERSION, REGIONS, FrameHash, Fingerprints, Match, TimeRange

__all__ = [
    "FINGERPRINT_VERSION",
    "MATCH_DISTANCE",
    "REGIONS",
    "FaissHashIndex",
    "FingerprintIndex",
    "Fingerprints",
    "FrameHash",
    "HashIndex",
    "Match",
    "NumpyHashIndex",
    "TimeRange",
    "copy_groups",
    "faiss_available",
    "fingerprint_file",
    "make_index",
]
