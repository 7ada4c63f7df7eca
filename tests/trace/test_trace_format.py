"""Golden checks of the stored format (docs/trace.md): PDQ bit order and catalog columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pdqhash
import sqlalchemy as sa
from PIL import Image

from witnessbox.trace import pdq


def _reference_hex(bits: np.ndarray) -> str:
    # pdqhash's vector is reversed: vector[255 - k] is bit k of the hash, i.e. bit k % 16 of
    # word k // 16; Facebook's reference prints words 15..0 as four hex digits each.
    words = [sum(int(bits[255 - (16 * j + b)]) << b for b in range(16)) for j in range(16)]
    return "".join(f"{w:04x}" for w in reversed(words))


def test_stored_bytes_hex_is_the_reference_pdq_hex(photos: dict[str, Path]) -> None:
    rgb = np.asarray(Image.open(photos["chelsea"]).convert("RGB"))
    bits, _ = pdqhash.compute(np.ascontiguousarray(rgb))
    digest, _ = pdq.hash_rgb(rgb)
    assert digest.hex() == _reference_hex(bits)
    assert len(digest) == pdq.HASH_BYTES


def test_distance_counts_differing_bits() -> None:
    a = bytes(32)
    b = bytes([0xFF] * 2 + [0] * 30)
    assert pdq.distance(a, b) == 16 and pdq.distance(a, a) == 0


def test_catalog_tables_have_the_documented_columns(tmp_path: Path) -> None:
    from witnessbox.ledger.index import create_engine, migrate
    from witnessbox.workspace import tracing  # noqa: F401  (registers the migration)

    engine = create_engine(tmp_path / "catalog.sqlite")
    migrate(engine)
    with engine.connect() as c:
        cols = {
            t: [r[1] for r in c.exec_driver_sql(f"PRAGMA table_info({t})")]
            for t in ("trace_items", "trace_hashes", "trace_features")
        }
    engine.dispose()
    assert cols == {
        "trace_items": ["sha256", "kind", "version", "reason", "width", "height", "duration", "computed_at"],
        "trace_hashes": ["sha256", "n", "pdq", "quality", "start_s", "end_s", "region", "flipped"],
        "trace_features": ["sha256", "n", "time_s", "flipped", "width", "height", "points", "descriptors"],
    }
    assert isinstance(engine, sa.Engine)
