"""Sealing streams: peak memory does not grow with the file size (constant-memory sealing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from workspace_helpers import PASSPHRASE

_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from witnessbox.workspace import Workspace
    ws = Workspace.open(Path(sys.argv[1]), sys.argv[2])
    rep = ws.add([Path(sys.argv[3])])
    assert rep.ok and len(rep.added) == 1, rep.failed
    hwm = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:")][0]
    print(int(hwm.split()[1]))
    """
)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="wb-mem-", dir=shm))
        yield d
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path


def _peak_kb(archive: Path, f: Path) -> int:
    res = subprocess.run([sys.executable, "-c", _CHILD, str(archive), PASSPHRASE, str(f)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return int(res.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for peak memory")
def test_peak_memory_does_not_grow_with_file_size(archive_path: Path, scratch: Path) -> None:
    block = os.urandom(1 << 20)
    sizes = {"small": 16, "large": 384}  # MiB
    peaks = {}
    for name, mib in sizes.items():
        f = scratch / f"{name}.bin"
        with open(f, "wb") as out:
            for i in range(mib):
                out.write(i.to_bytes(8, "big") + block[8:])  # distinct blocks, cheap to make
        peaks[name] = _peak_kb(archive_path, f)
        f.unlink()
    grown_mib = (peaks["large"] - peaks["small"]) / 1024
    assert grown_mib < 48, f"peak memory grew by {grown_mib:.0f} MiB for a {sizes['large'] - sizes['small']} MiB larger file"
