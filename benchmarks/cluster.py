"""A local run against the same backup on a Dask LocalCluster of 2 processes (`local:2`).

    python benchmarks/cluster.py CORPUS [--box 2048]

Both runs back up the same corpus into fresh folders in this one invocation; the cluster run
includes starting the cluster. Prints photos/s for each and their ratio.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_backup(corpus: Path, dest: Path, box: int, *options: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "photorescue_batch", "backup", str(corpus), str(dest),
         "--box", str(box), *options],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--box", type=int, default=2048)
    args = parser.parse_args()
    photos = sum(1 for p in args.corpus.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    work = Path(tempfile.mkdtemp(prefix="photorescue-cluster-"))
    try:
        local = timed_backup(args.corpus, work / "local", args.box, "--jobs", "2")
        cluster = timed_backup(args.corpus, work / "cluster", args.box, "--scheduler", "local:2")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{photos} photos, box {args.box}")
    print(f"{'run':34} {'seconds':>8} {'photos/s':>9}")
    print(f"{'local (--jobs 2)':34} {local:8.1f} {photos / local:9.2f}")
    print(f"{'Dask LocalCluster (local:2)':34} {cluster:8.1f} {photos / cluster:9.2f}")
    print(f"local:2 / local photos/s: {local / cluster:.2f}")


if __name__ == "__main__":
    main()
