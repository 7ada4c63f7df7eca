"""The int8 copy of the face detector (issue 13): made on first use, cached, hash-checked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from witnessbox.redact import detector, quantize
from witnessbox.redact.detector import CenterFace, MultiScaleDetector, _load_dynamic_model, _shipped_model, model_bytes
from witnessbox.redact.pipeline import RedactOptions, Redactor
from witnessbox.redact.regions import read_regions

CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def in_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache, on a CPU taken to have the int8 features (the mechanics tested here do not
    depend on them; the test of the copy's detections runs only where they are real)."""
    monkeypatch.setenv("WITNESSBOX_CACHE", str(cache))
    monkeypatch.setattr(quantize, "int8_fits_cpu", lambda: True)
    monkeypatch.setattr(detector, "_SESSIONS", {})  # sessions made here stay here
    return cache


REAL_VNNI = quantize.int8_fits_cpu()


def test_int8_needs_the_cpu_features_it_was_measured_with(tmp_path: Path, cache: Path, face_photo: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    assert not quantize.int8_fits_cpu(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    assert quantize.int8_fits_cpu(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx_vnni\n")
    assert quantize.int8_fits_cpu(info)
    assert not quantize.int8_fits_cpu(tmp_path / "absent")
    # Without them the float model runs, and regions files say the copy never ran.
    monkeypatch.setenv("WITNESSBOX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(quantize, "int8_fits_cpu", lambda: False)
    monkeypatch.setattr(detector, "_SESSIONS", {})
    assert model_bytes("int8", CPU)[1] == "fp32"
    assert quantize.prepare() is None and not (tmp_path / "cache").exists()
    res = Redactor(RedactOptions()).redact_file(face_photo, tmp_path / "out.png")
    assert read_regions(res.regions_file).method.params["int8_from"] == 0


def test_int8_copy_is_made_once_cached_and_hash_checked(in_cache: Path) -> None:
    data, got = model_bytes("int8", CPU)
    assert got == "int8"
    path = quantize.cache_path(_load_dynamic_model())
    assert path.parent == in_cache / "models"
    assert path.read_bytes() == data
    rec = json.loads(path.with_name(path.name + ".json").read_text())
    assert rec["sha256"] == hashlib.sha256(data).hexdigest()
    assert rec["recipe"] == quantize.RECIPE
    stamp = path.stat().st_mtime_ns
    # A second use reads the cached copy: nothing is rewritten.
    assert model_bytes("int8", CPU) == (data, "int8")
    assert path.stat().st_mtime_ns == stamp
    # A damaged copy is never run: its hash no longer matches, so it is made again (the same bytes).
    path.write_bytes(data[: len(data) // 2])
    assert quantize.cached_int8(_load_dynamic_model()) is None
    assert model_bytes("int8", CPU) == (data, "int8")
    assert path.read_bytes() == data
    assert quantize.prepare() == path  # what `make install` runs: the copy is there and checked


def test_cached_copy_is_found_without_importing_onnx(in_cache: Path) -> None:
    # The cache key names onnx's version; reading it from the package metadata must give the
    # key that onnx's own __version__ gives, and finding the cached copy must not import onnx
    # (0.8 s of CPU per command).
    import subprocess
    import sys

    data, got = model_bytes("int8", CPU)
    assert got == "int8"
    code = (
        "import sys\n"
        "from witnessbox.redact import detector, quantize\n"
        "quantize.int8_fits_cpu = lambda: True\n"
        "data, got = detector.model_bytes('int8', ['CPUExecutionProvider'])\n"
        "assert got == 'int8'\n"
        "assert 'onnx' not in sys.modules, 'the onnx package was imported'\n"
        "v = quantize._versions()\n"
        "import onnx, onnxruntime\n"
        "assert v == f'onnxruntime {onnxruntime.__version__}, onnx {onnx.__version__}', v\n"
        "sys.stdout.buffer.write(data)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout
    assert out == data


def test_other_weights_get_no_int8_copy(in_cache: Path) -> None:
    source = _load_dynamic_model()
    assert hashlib.sha256(_shipped_model()).hexdigest() == quantize.SOURCE_SHA256
    assert quantize.int8_model(source, "0" * 64) is None
    assert model_bytes("fp32", CPU)[1] == "fp32"
    # int8 graphs are for CPUs: with CUDA first, the float weights run.
    assert model_bytes("int8", ["CUDAExecutionProvider", *CPU])[1] == "fp32"


def test_calibration_pictures_are_fixed_and_generated() -> None:
    a = list(quantize.calibration_pictures())
    b = list(quantize.calibration_pictures())
    side = quantize.CALIBRATION_SIDE
    assert len(a) == 3 * len(quantize.CALIBRATION_PHOTOS) + 7
    assert all(x.shape == (side, side, 3) and x.dtype == np.uint8 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.skipif(not REAL_VNNI, reason="this CPU lacks AVX-512 VNNI / AVX-VNNI: witnessbox runs the float model here")
def test_int8_finds_the_faces_fp32_finds(in_cache: Path, face_photo: Path) -> None:
    rgb = np.asarray(Image.open(face_photo).convert("RGB"))
    fp = MultiScaleDetector(CenterFace(0.1, weights="fp32"), threshold=0.16)(rgb)
    q = MultiScaleDetector(CenterFace(0.1, weights="int8"), threshold=0.16)(rgb)
    strong = [d for d in fp if d.score >= 0.5]
    assert len(strong) >= 3
    for d in strong:
        best = max(q, key=lambda e: _iou(d.box, e.box))
        assert _iou(d.box, best.box) >= 0.7
        assert abs(best.score - d.score) < 0.15


def test_int8_runs_on_large_pictures_only(in_cache: Path, face_photo: Path) -> None:
    fp, q = CenterFace(0.1, weights="fp32"), CenterFace(0.1, weights="int8")
    assert (fp.name, q.name) == ("centerface", "centerface-int8")
    both = MultiScaleDetector(fp, threshold=0.16, fast=q)
    assert both.int8_from == 800
    small = np.asarray(Image.open(face_photo).convert("RGB"))
    assert max(small.shape[:2]) < 800
    big = np.asarray(Image.open(face_photo).convert("RGB").resize((1000, round(1000 * small.shape[0] / small.shape[1]))))
    assert both(small) == MultiScaleDetector(fp, threshold=0.16)(small)
    assert both(big) == MultiScaleDetector(q, threshold=0.16)(big)
    assert both(big) != MultiScaleDetector(fp, threshold=0.16)(big)


def test_regions_record_where_int8_ran(in_cache: Path, face_photo: Path, tmp_path: Path) -> None:
    res = Redactor(RedactOptions()).redact_file(face_photo, tmp_path / "out.png")
    doc = read_regions(res.regions_file)
    assert (doc.method.detector, doc.method.params["int8_from"]) == ("centerface-multipass", 800)
    res = Redactor(RedactOptions(weights="fp32")).redact_file(face_photo, tmp_path / "out32.png")
    assert read_regions(res.regions_file).method.params["int8_from"] == 0


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
