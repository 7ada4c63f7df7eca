"""Run every benchmark in turn with its default sizes (`make bench`); each prints its own table.

Each benchmark measures its anchor in the same run and prints ratios against it. They take
minutes each on a 2-core machine; run one by hand to iterate (see benchmarks/README.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "seal_throughput.py",
    "redaction_photos.py",
    "redaction_crowd.py",
    "redaction_video.py",
    "review_suggestions.py",
    "trace_suite.py",
    "trace_latency.py",
    "trace_throughput.py",
    "publish_site.py",
    "dropbox_upload.py",
]


def main() -> int:
    failed = []
    for name in ORDER:
        print(f"\n=== {name}", flush=True)
        if subprocess.call([sys.executable, str(HERE / name)]) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
