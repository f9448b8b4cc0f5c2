"""How long `verify --against` takes next to the backup it checks, in one invocation.

    python benchmarks/verify_speed.py CORPUS

Backs the corpus up at the default settings, then runs `verify --against` with one worker and
with all cores. Verify decodes every frame, and every original again (the heavy part, in the
worker pool), to measure SSIM and colour error: it is what a user runs before freeing the
library's disk, so it should cost no more than the backup.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from harness import measure


def timed(command: str) -> tuple[float, float]:
    wall, cpu, _ = measure(f"{sys.executable} -m photorescue_batch {command} > /dev/null")
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="photorescue-verify-") as tmp:
        dest = Path(tmp, "backup")
        rows = [("backup", timed(f"backup '{args.corpus}' '{dest}'"))]
        for jobs in sorted({1, cores}):
            command = f"verify '{dest}' --against '{args.corpus}' --jobs {jobs}"
            rows.append((f"verify --against, {jobs} worker(s)", timed(command)))
    started = time.strftime("%Y-%m-%d")
    print(f"{started}: {len(list(args.corpus.rglob('*.jpg')))} corpus photos, {cores} cores")
    print(f"{'run':34}{'wall s':>8}{'CPU s':>8}{'x backup':>10}")
    backup = rows[0][1][0]
    for name, (wall, cpu) in rows:
        print(f"{name:34}{wall:8.1f}{cpu:8.1f}{wall / backup:10.2f}")


if __name__ == "__main__":
    main()
