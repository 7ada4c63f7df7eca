"""Search latency: one query against 1M and 10M stored synthetic PDQ hashes.

Anchor: the same exact search with the numpy popcount scan, measured in the same run. Targets
(issue 6): 1M at most 2 ms median with faiss, at most 30 ms without.

Usage: .venv/bin/python benchmarks/trace_latency.py [--sizes 1000000 10000000] [--queries 50]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numpy as np

from witnessbox.trace import FaissHashIndex, NumpyHashIndex, faiss_available


def _bench(index: object, queries: np.ndarray, radius: int) -> tuple[float, float, int]:
    times = []
    hits = 0
    index.search(queries[:1], radius)  # type: ignore[attr-defined]  # warm-up (numpy: builds columns)
    for q in queries:
        t = time.perf_counter()
        (ids, _), = index.search(q[None], radius)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t)
        hits += len(ids)
    return statistics.median(times) * 1e3, float(np.percentile(times, 95)) * 1e3, hits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--radius", type=int, default=31)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'hashes':>12} {'index':>8} {'median ms':>10} {'p95 ms':>8} {'hits':>6}")
    for n in args.sizes:
        db = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        # Queries are stored hashes with 0..40 bits flipped: some answers lie inside the radius.
        pick = rng.integers(0, n, args.queries)
        queries = db[pick].copy()
        for i, k in enumerate(rng.integers(0, 41, args.queries)):
            bits = np.unpackbits(queries[i])
            bits[rng.choice(256, int(k), replace=False)] ^= 1
            queries[i] = np.packbits(bits)
        results = {}
        kinds = [("numpy", NumpyHashIndex)] + ([("faiss", FaissHashIndex)] if faiss_available() else [])
        for name, cls in kinds:
            index = cls()
            index.add(db)
            med, p95, hits = _bench(index, queries, args.radius)
            results[name] = (med, hits)
            print(f"{n:>12,} {name:>8} {med:>10.2f} {p95:>8.2f} {hits:>6}")
            del index
            gc.collect()
        if "faiss" in results:
            assert results["faiss"][1] == results["numpy"][1], "indexes disagree"
            print(f"{'':>12} faiss is {results['numpy'][0] / results['faiss'][0]:.1f}x the numpy scan (anchor)")
        del db
        gc.collect()


if __name__ == "__main__":
    main()
