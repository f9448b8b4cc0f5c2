"""Memory: a folder of very big photos, with the default memory budget and without one.

    python benchmarks/memory.py CORPUS [--megapixels 150] [--count 4] [--format tiff]

Builds `--count` mosaics of corpus photos of `--megapixels` each, as a scanner or a phone's
high-resolution mode leaves them (TIFF and PNG cannot be decoded at a reduced scale, as JPEG
can), then backs the folder up twice in this one invocation: with the default `--memory`
(1.5 GB: such photos are decoded one at a time) and with `--memory 64G` (every worker decodes
at once, as before the budget). Prints wall time and the peak RSS summed over the process tree.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

from harness import measure, mosaic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--megapixels", type=int, default=150)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--format", choices=["tiff", "png"], default="tiff")
    args = parser.parse_args()
    sources = sorted(args.corpus.rglob("*.jpg"))
    if not sources:
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    work = Path(tempfile.mkdtemp(prefix="photorescue-memory-"))
    try:
        library = work / "library" / "scans"
        library.mkdir(parents=True)
        width = int((args.megapixels * 1e6 * 4 / 3) ** 0.5)
        size = (width, width * 3 // 4)
        rng = random.Random(7)
        for i in range(args.count):
            picture = mosaic(sources, size, rng)
            picture.save(library / f"scan_{i}.{args.format}", compress_level=1)
        print(f"{args.count} photos of {size[0]} x {size[1]} ({args.megapixels} MP), {args.format}")
        backup = f"'{sys.executable}' -m photorescue_batch backup '{library.parent}'"
        runs = {
            "--memory 1.5G (default)": f"{backup} '{work / 'budget'}'",
            "--memory 64G (no budget)": f"{backup} '{work / 'unbounded'}' --memory 64G",
        }
        print(f"{'run':26} {'wall s':>8} {'peak RSS MB':>12}")
        for name, script in runs.items():
            wall, _, peak = measure(script)
            print(f"{name:26} {wall:8.1f} {peak / 2**20:12.0f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
