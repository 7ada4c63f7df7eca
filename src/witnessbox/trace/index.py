"""Search of 256-bit hashes by Hamming radius, behind a narrow interface.

:class:`HashIndex` is the extension point: the default is a numpy popcount scan
(:class:`NumpyHashIndex`), faiss-cpu's exact ``IndexBinaryFlat`` when the ``fast`` extra is
installed (:class:`FaissHashIndex`), and a sharded or remote index can take their place as long
as it answers the same two calls. Rows are numbered in the order they are added; the caller
keeps what a row means (which item, which second).
"""

from __future__ import annotations

import importlib.util
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from ..errors import UsageError
from .pdq import HASH_BYTES

Hashes = npt.NDArray[np.uint8]  # shape (n, 32)
IndexKind = Literal["auto", "numpy", "faiss"]

#: Query x row pairs above which faiss may use all its threads.
_THREADED_WORK = 2_000_000_000
#: Rows scanned per numpy step: bounds the temporary memory of a 10M-row scan (~40 MB).
_SCAN_CHUNK = 2_000_000


class HashIndex(Protocol):
    """Exact radius search over 256-bit hashes."""

    def add(self, hashes: Hashes) -> None:
        """Append rows; they get the next row numbers."""

    def search(
        self, queries: Hashes, max_distance: int
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]]:
        """For each query, the rows within ``max_distance`` (inclusive) and their distances."""

    def __len__(self) -> int:
        """Number of rows."""


def _check(hashes: Hashes) -> Hashes:
    arr = np.ascontiguousarray(hashes, dtype=np.uint8)
    if arr.ndim != 2 or arr.shape[1] != HASH_BYTES:
        raise ValueError(f"hashes must have shape (n, {HASH_BYTES}), got {arr.shape}")
    return arr


class NumpyHashIndex:
    """Popcount scan with numpy: four 64-bit columns, XOR and ``bitwise_count`` per column.

    Column-major storage keeps each pass sequential in memory; 1M rows scan in about 5 ms.
    """

    def __init__(self) -> None:
        self._cols: list[npt.NDArray[np.uint64]] = [np.empty(0, np.uint64) for _ in range(4)]
        self._pending: list[Hashes] = []
        self._n = 0

    def add(self, hashes: Hashes) -> None:
        arr = _check(hashes)
        if len(arr):
            self._pending.append(arr)
            self._n += len(arr)

    def _flush(self) -> None:
        # Appends are batched: concatenating once per search keeps bulk loading linear.
        if not self._pending:
            return
        new = np.concatenate(self._pending).view(np.uint64)  # (n, 4)
        self._cols = [np.concatenate([c, new[:, i]]) for i, c in enumerate(self._cols)]
        self._pending = []

    def __len__(self) -> int:
        return self._n

    def search(
        self, queries: Hashes, max_distance: int
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]]:
        q = _check(queries).view(np.uint64)
        self._flush()
        if len(q) == 0:
            return []
        # Several queries share each pass over a block of rows, so the block stays in cache;
        # the block shrinks as queries grow to bound the (queries x rows) temporaries (~32 MB).
        block = max(1024, min(_SCAN_CHUNK, 2_000_000 // len(q)))
        ids: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(len(q))]
        dists: list[list[npt.NDArray[np.int32]]] = [[] for _ in range(len(q))]
        for s in range(0, self._n, block):
            e = min(self._n, s + block)
            acc = np.bitwise_count(self._cols[0][None, s:e] ^ q[:, 0:1]).astype(np.uint16)
            for i in range(1, 4):
                acc += np.bitwise_count(self._cols[i][None, s:e] ^ q[:, i : i + 1])
            qs, rows = np.nonzero(acc <= max_distance)
            if len(qs) == 0:
                continue
            found = acc[qs, rows].astype(np.int32)
            for j in np.unique(qs).tolist():
                sel = qs == j
                ids[j].append(rows[sel].astype(np.int64) + s)
                dists[j].append(found[sel])
        return [
            (np.concatenate(i) if i else np.empty(0, np.int64), np.concatenate(d) if d else np.empty(0, np.int32))
            for i, d in zip(ids, dists, strict=True)
        ]


class FaissHashIndex:
    """faiss-cpu ``IndexBinaryFlat``: exact, SIMD popcount; ``radius = max_distance + 1``.

    faiss returns distances strictly below the radius, hence the ``+ 1``. Searches run on one
    thread unless they compare more than :data:`_THREADED_WORK` pairs: below that, waking
    OpenMP threads costs more than it saves (measured: 1M rows, one query, 1.7 ms on one
    thread, 3.5 ms on two).
    """

    def __init__(self) -> None:
        import faiss

        self._faiss = faiss
        self._index = faiss.IndexBinaryFlat(HASH_BYTES * 8)

    def add(self, hashes: Hashes) -> None:
        arr = _check(hashes)
        if len(arr):
            self._index.add(arr)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(
        self, queries: Hashes, max_distance: int
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]]:
        q = _check(queries)
        if len(q) == 0 or self._index.ntotal == 0:
            return [(np.empty(0, np.int64), np.empty(0, np.int32)) for _ in range(len(q))]
        faiss = self._faiss
        threads = faiss.omp_get_max_threads()
        if len(q) * self._index.ntotal < _THREADED_WORK:
            faiss.omp_set_num_threads(1)
        try:
            lims, dist, ids = self._index.range_search(q, max_distance + 1)
        finally:
            faiss.omp_set_num_threads(threads)
        return [
            (ids[lims[i] : lims[i + 1]].astype(np.int64), dist[lims[i] : lims[i + 1]].astype(np.int32))
            for i in range(len(q))
        ]


def faiss_available() -> bool:
    """Whether faiss-cpu (the ``fast`` extra) is importable."""
    return importlib.util.find_spec("faiss") is not None


def make_index(kind: IndexKind = "auto") -> HashIndex:
    """A new empty index: faiss when available (``auto``), else the numpy scan.

    Raises:
        UsageError: ``faiss`` was asked for but is not installed, or ``kind`` is unknown.
    """
    if kind == "auto":
        kind = "faiss" if faiss_available() else "numpy"
    if kind == "numpy":
        return NumpyHashIndex()
    if kind == "faiss":
        if not faiss_available():
            raise UsageError("faiss-cpu is not installed: pip install 'witnessbox[fast]' or use the numpy index")
        return FaissHashIndex()
    raise UsageError(f"unknown index kind {kind!r}: use one of auto, numpy, faiss")
