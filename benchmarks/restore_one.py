"""Restoring one photo against restoring its whole folder, on a 300-frame folder of real photos.

    python benchmarks/restore_one.py CORPUS [--frames 300] [--box 2048]

Builds a 300-photo folder by cycling through the corpus photos (bursts included), backs it up
with the defaults, then restores single photos spread over the folder (each one seeks to the
keyframe before it) and the whole folder, in the same run. Prints a table and the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from photorescue_batch.catalog import load_folders
from photorescue_batch.restore import restore


def build_folder(corpus: Path, folder: Path, frames: int) -> None:
    photos = sorted(corpus.rglob("*.jpg"))
    if not photos:
        sys.exit(f"{corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    folder.mkdir(parents=True)
    for i in range(frames):
        source = photos[i % len(photos)]
        shutil.copy2(source, folder / f"{i:04d}_{source.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--box", type=int, default=2048)
    parser.add_argument("--samples", type=int, default=10, help="single photos to time")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="photorescue-bench-"))
    try:
        library, dest = work / "library", work / "backup"
        build_folder(args.corpus, library / "folder", args.frames)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "photorescue_batch",
                "backup",
                str(library),
                str(dest),
                "--box",
                str(args.box),
            ],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        [folder] = list(load_folders(dest, print))
        photos = folder.record.photos
        step = max(1, len(photos) // args.samples)
        singles, decoded = [], []
        for n, photo in enumerate(photos[step - 1 :: step][: args.samples]):
            started = time.perf_counter()  # reading the sidecar counts, as in the command
            result = restore(
                list(load_folders(dest, print)), work / f"one-{n}", [f"folder/{photo.name}"]
            )
            singles.append(time.perf_counter() - started)
            decoded.append(result.stats.frames_decoded)
        started = time.perf_counter()
        whole = restore(list(load_folders(dest, print)), work / "whole", ["folder"])
        whole_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)

    one = statistics.median(singles)
    codec = folder.record.segments[0].settings.codec
    print(f"restore from a {len(photos)}-frame folder, box {args.box}, {codec}")
    print(f"{'what':32} {'seconds':>9} {'frames decoded':>15}")
    median_label = f"one photo (median of {len(singles)})"
    print(f"{median_label:32} {one:9.3f} {statistics.median(decoded):15.0f}")
    print(f"{'one photo (slowest)':32} {max(singles):9.3f} {max(decoded):15d}")
    print(f"{'whole folder':32} {whole_seconds:9.3f} {whole.stats.frames_decoded:15d}")
    print(f"whole folder / one photo: {whole_seconds / one:.0f}x")


if __name__ == "__main__":
    main()
