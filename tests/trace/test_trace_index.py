"""The hash indexes answer the same exact radius search."""

from __future__ import annotations

import numpy as np
import pytest

from witnessbox.errors import UsageError
from witnessbox.trace import FaissHashIndex, NumpyHashIndex, faiss_available, make_index


def _brute(db: np.ndarray, q: np.ndarray, r: int) -> dict[int, int]:
    d = np.unpackbits(db ^ q, axis=1).sum(axis=1)
    return {int(i): int(d[i]) for i in np.flatnonzero(d <= r)}


def _flip_bits(h: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(h)
    bits[rng.choice(256, n, replace=False)] ^= 1
    return np.packbits(bits)


KINDS = ["numpy"] + (["faiss"] if faiss_available() else [])


@pytest.mark.parametrize("kind", KINDS)
def test_radius_search_is_exact_and_inclusive(kind: str) -> None:
    rng = np.random.default_rng(7)
    db = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    base = db[123].copy()
    # Plant neighbours at exactly 0, 30, 31 and 32 bits from the query.
    for row, n in ((10, 0), (20, 30), (30, 31), (40, 32)):
        db[row] = _flip_bits(base, n, rng)
    index = make_index(kind)  # type: ignore[arg-type]
    index.add(db[:2500])
    index.add(db[2500:])
    assert len(index) == 5000
    (ids, dists), = index.search(base[None], 31)
    got = dict(zip(ids.tolist(), dists.tolist(), strict=True))
    assert got == _brute(db, base, 31)
    assert got[10] == 0 and got[20] == 30 and got[30] == 31 and 40 not in got


@pytest.mark.parametrize("kind", KINDS)
def test_empty_index_and_many_queries(kind: str) -> None:
    index = make_index(kind)  # type: ignore[arg-type]
    q = np.zeros((3, 32), np.uint8)
    assert [len(i) for i, _ in index.search(q, 31)] == [0, 0, 0]
    index.add(np.zeros((2, 32), np.uint8))
    assert [i.tolist() for i, _ in index.search(q, 0)] == [[0, 1]] * 3


@pytest.mark.parametrize(("shape"), [(3, 31), (3,), (2, 33)])
def test_bad_hash_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shape"):
        NumpyHashIndex().add(np.zeros(shape, np.uint8))


def test_unknown_index_kind_lists_valid_ones() -> None:
    with pytest.raises(UsageError, match="auto, numpy, faiss"):
        make_index("annoy")  # type: ignore[arg-type]


def test_auto_prefers_faiss_when_installed() -> None:
    expected = FaissHashIndex if faiss_available() else NumpyHashIndex
    assert isinstance(make_index("auto"), expected)
