"""Bad inputs, as a table: each gets one clear line naming the file, the archive is untouched
by what failed, and the rest of the batch goes on."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from workspace_helpers import PASSPHRASE, snapshot
from media_samples import jpeg_with_exif, mp4, png, png_bomb, truncated

from witnessbox.workspace import Workspace

Maker = Callable[[Path], Path]


def _missing(d: Path) -> Path:
    return d / "does-not-exist.jpg"


def _unreadable(d: Path) -> Path:
    if os.geteuid() == 0:
        pytest.skip("running as root: permissions do not stop reads")
    p = d / "secret.txt"
    p.write_text("x")
    p.chmod(0)
    return p


def _zero(d: Path) -> Path:
    p = d / "empty.jpg"
    p.write_bytes(b"")
    return p


def _truncated_jpeg(d: Path) -> Path:
    return truncated(jpeg_with_exif(d / "full.jpg", size=(400, 300)), d / "cut.jpg", 0.5)


def _corrupt_png(d: Path) -> Path:
    data = bytearray(png(d / "ok.png", (64, 64)).read_bytes())
    data[40:60] = b"\xff" * 20  # inside IDAT: CRC and zlib stream broken
    (d / "corrupt.png").write_bytes(bytes(data))
    return d / "corrupt.png"


def _truncated_png(d: Path) -> Path:
    return truncated(png(d / "ok2.png", (64, 64)), d / "cut.png", 0.6)


def _truncated_mp4(d: Path) -> Path:
    return truncated(mp4(d / "ok.mp4"), d / "cut.mp4", 0.5)


def _not_a_jpeg(d: Path) -> Path:
    p = d / "fake.jpg"
    p.write_bytes(b"this is not an image at all" * 10)
    return p


def _bomb(d: Path) -> Path:
    return png_bomb(d / "bomb.png")


def _loop(d: Path) -> Path:
    (d / "loop-a").symlink_to(d / "loop-b")
    (d / "loop-b").symlink_to(d / "loop-a")
    return d / "loop-a"


def _dangling(d: Path) -> Path:
    (d / "dangling").symlink_to(d / "nowhere")
    return d / "dangling"


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "pipe.mp4")
    return d / "pipe.mp4"


def _mp4_without_sample_description(d: Path) -> Path:
    # A damaged 'stsd' box: PyAV opens the file but its video stream has no codec context.
    p = mp4(d / "nostsd.mp4", frames=3)
    p.write_bytes(p.read_bytes().replace(b"stsd", b"xtsd", 1))
    return p


BAD: list[tuple[str, Maker, str]] = [
    ("named pipe", _fifo, "not a regular file"),
    ("missing path", _missing, "no such file"),
    ("unreadable", _unreadable, "permission denied"),
    ("zero-byte file", _zero, "zero-byte"),
    ("truncated JPEG", _truncated_jpeg, "truncated or corrupt"),
    ("corrupt PNG", _corrupt_png, "corrupt"),
    ("truncated PNG", _truncated_png, "truncated"),
    ("truncated MP4", _truncated_mp4, "truncated or corrupt"),
    ("MP4 without a sample description", _mp4_without_sample_description, "truncated or corrupt"),
    ("not really a JPEG", _not_a_jpeg, "not a valid image/jpeg"),
    ("decompression bomb", _bomb, "decompression bomb"),
    ("symlink loop", _loop, "symbolic link loop"),
    ("dangling symlink", _dangling, "no such file"),
]


@pytest.mark.parametrize("case,make,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_fails_cleanly_and_batch_goes_on(
    case: str, make: Maker, message: str, ws: Workspace, tmp_path: Path
) -> None:
    d = tmp_path / "in"
    d.mkdir()
    bad = make(d)
    good = d / "good.txt"
    good.write_text("fine")
    before = snapshot(ws.root)
    rep = ws.add([bad, good])
    assert [r.name for r in rep.added] == ["good.txt"]
    assert len(rep.failed) == 1, rep.failed
    err = rep.failed[0].error
    assert bad.name in err and message in err and "\n" not in err
    # Untouched by the failure: the only new files are the good item's and its log entry/checkpoint.
    after = snapshot(ws.root)
    assert all(after[k] == v for k, v in before.items())
    new = set(after) - set(before)
    sha = rep.added[0].sha256
    assert all(sha in k or k.startswith("log/") for k in new), new
    assert ws.verify().ok


@pytest.mark.parametrize("make", [_truncated_jpeg, _truncated_mp4, _not_a_jpeg], ids=["jpeg", "mp4", "fake"])
def test_allow_damaged_seals_without_metadata(make: Maker, ws: Workspace, tmp_path: Path) -> None:
    bad = make(tmp_path)
    rep = ws.add([bad], allow_damaged=True)
    assert rep.ok and len(rep.added) == 1
    m = rep.added[0].metadata
    assert m.width is None and m.warnings and rep.added[0].sensitive is None


def test_hostile_exif_values_are_dropped_not_trusted(ws: Workspace, tmp_path: Path) -> None:
    p = jpeg_with_exif(tmp_path / "hostile.jpg", gps=(500.0, 2.0), when="9999:99:99 99:99:99",
                       make="A\x00B\x1b[31m" + "x" * 10_000, model="", serial="\x00\x00")
    rep = ws.add([p])
    assert rep.ok, rep.failed
    r = rep.added[0]
    assert r.metadata.capture_time is None and r.sensitive is None
    assert r.metadata.camera_make is not None and len(r.metadata.camera_make) <= 200
    assert "\x00" not in r.metadata.camera_make and "\x1b" not in r.metadata.camera_make
    assert any("GPS" in w for w in r.metadata.warnings)


def test_exif_with_absurd_counts_warns_in_the_record_not_on_stderr(ws: Workspace, tmp_path: Path) -> None:
    # A GPS latitude claiming 2**31 values: Pillow warns (UserWarning) and skips the tag. The
    # user must see no Python warning text; the record says what was ignored.
    import warnings

    p = jpeg_with_exif(tmp_path / "counts.jpg")
    entry = b"\x00\x02\x00\x05\x00\x00\x00\x03"  # GPS tag 2, RATIONAL, 3 values
    data = p.read_bytes()
    assert data.count(entry) == 1
    p.write_bytes(data.replace(entry, b"\x00\x02\x00\x05\x7f\xff\xff\xff"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = ws.add([p])
    assert rep.ok, rep.failed
    assert [str(w.message) for w in caught] == []
    r = rep.added[0]
    assert r.sensitive is None or "gps" not in r.sensitive.fields
    assert any("larger than file" in w for w in r.metadata.warnings), r.metadata.warnings


def test_file_names_with_newlines_and_non_utf8_bytes(ws: Workspace, tmp_path: Path) -> None:
    d = tmp_path / "names"
    d.mkdir()
    nl = d / "two\nlines.txt"
    nl.write_text("a")
    raw = os.fsencode(d) + b"/caf\xe9-latin1.txt"
    with open(raw, "wb") as f:
        f.write(b"b")
    rep = ws.add([d])
    assert rep.ok, rep.failed
    names = {r.name for r in rep.added}
    assert "two\nlines.txt" in names
    latin = next(r for r in rep.added if r.name_bytes_b64)
    assert latin.raw_name == b"caf\xe9-latin1.txt" and base64.b64decode(latin.name_bytes_b64 or "") == latin.raw_name
    assert ws.verify().ok


def test_folder_inside_the_archive_is_refused(ws: Workspace) -> None:
    rep = ws.add([ws.root])
    assert not rep.ok and "archive" in rep.failed[0].error


def test_symlinked_folders_are_not_followed(ws: Workspace, tmp_path: Path) -> None:
    d = tmp_path / "tree"
    (d / "real").mkdir(parents=True)
    (d / "real" / "f.txt").write_text("x")
    (d / "real" / "up").symlink_to(d)  # a loop through a folder link
    rep = ws.add([d])
    assert rep.ok and [r.name for r in rep.added] == ["f.txt"]
    assert rep.skipped and "not followed" in rep.skipped[0].error


_FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from witnessbox.workspace import Workspace
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    ws = Workspace.open(Path(sys.argv[1]), sys.argv[2])
    ws.items()  # open the catalog before the limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    rep = ws.add([Path(sys.argv[3]), Path(sys.argv[4])])
    print([f.error for f in rep.failed])
    print([r.name for r in rep.added])
    """
)


def test_full_disk_fails_that_file_only(archive_path: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1_000_000))
    small = tmp_path / "small.txt"
    small.write_text("small")
    before = snapshot(archive_path)
    res = subprocess.run([sys.executable, "-c", _FULL_DISK, str(archive_path), PASSPHRASE, str(big), str(small)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    failed, added = res.stdout.strip().splitlines()
    assert "big.bin" in failed and ("too large" in failed or "disk full" in failed)
    assert added == "['small.txt']"
    after = snapshot(archive_path)
    assert all(after[k] == v for k, v in before.items())
    assert not any(k.startswith("tmp/") and v for k, v in after.items())
    ws = Workspace.open(archive_path, PASSPHRASE)
    assert [r.name for r in ws.items()] == ["small.txt"]
    assert ws.verify().ok
