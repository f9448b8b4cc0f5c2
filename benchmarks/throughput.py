"""Throughput: photorescue against the reference recipe on the same photos, in one invocation.

    python benchmarks/throughput.py CORPUS [--box 2048] [--mosaics 20]

The recipe is ImageMagick `convert` per photo into an MJPEG pipe, `ffmpeg -r 1 -vcodec prores_ks
-qscale 16`, and `exiftool -X`, folder by folder (needs /usr/bin/convert, ffmpeg, exiftool; `make
bench` installs them). For each it prints photos/s, CPU seconds per photo (all processes) and
the peak RSS summed over the process tree, then the ratio of photos/s. With --mosaics N it does
the same on N 24 MP mosaics of corpus photos, the size of a modern camera's photos.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

from harness import measure, mosaic

RECIPE_CONVERT = "/usr/bin/convert"


def recipe_script(corpus: Path, out: Path, box: int) -> str:
    lines = [f"set -e; mkdir -p {out}"]
    for folder in sorted({p.parent for p in corpus.rglob("*.jpg")}):
        photos = " ".join(f"'{p}'" for p in sorted(folder.glob("*.jpg")))
        name = folder.name
        lines.append(
            f"for f in {photos}; do {RECIPE_CONVERT} \"$f\" -filter cubic -resize '{box}x{box}>' "
            f"-gravity center -background black -extent {box}x{box} jpg:-; done | "
            f"ffmpeg -loglevel error -f image2pipe -c:v mjpeg -r 1 -i - -vcodec prores_ks "
            f"-qscale 16 {out}/{name}.mov; exiftool -X {photos} > {out}/{name}.xml"
        )
    return "\n".join(lines)


def compare(library: Path, work: Path, box: int) -> tuple[int, tuple, tuple]:
    """Photos, then (wall, CPU, peak RSS) of photorescue and of the recipe on `library`."""
    photos = len(list(library.rglob("*.jpg")))
    ours = measure(
        f"'{sys.executable}' -m photorescue_batch backup '{library}' '{work / 'pr'}' --box {box}"
    )
    recipe = measure(recipe_script(library, work / "recipe", box))
    return photos, ours, recipe


def make_mosaics(corpus: Path, where: Path, count: int) -> Path:
    """`count` 24 MP mosaics of corpus photos in two folders: photos of a 24 MP camera's size."""
    sources = sorted(corpus.rglob("*.jpg"))
    rng = random.Random(5)
    for i in range(count):
        folder = where / f"day{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        mosaic(sources, (6000, 4000), rng).save(folder / f"IMG_{i:04}.jpg", "JPEG", quality=92)
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--box", type=int, default=2048)
    parser.add_argument("--mosaics", type=int, default=20, help="also on N 24 MP mosaics")
    args = parser.parse_args()
    if not list(args.corpus.rglob("*.jpg")):
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    if not (Path(RECIPE_CONVERT).exists() and shutil.which("ffmpeg") and shutil.which("exiftool")):
        sys.exit("the recipe needs ImageMagick, ffmpeg and exiftool (`make bench` installs them)")
    work = Path(tempfile.mkdtemp(prefix="photorescue-throughput-"))
    try:
        runs = {"corpus": compare(args.corpus, work / "corpus", args.box)}
        if args.mosaics:
            mosaics = make_mosaics(args.corpus, work / "mosaics", args.mosaics)
            runs["24 MP mosaics"] = compare(mosaics, work / "on-mosaics", args.box)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"box {args.box}, {os.cpu_count()} cores; corpus {args.corpus}")
    print(f"{'photos':14} {'run':24} {'photos/s':>9} {'CPU s/photo':>12} {'peak RSS MB':>12}")
    for label, (photos, ours, recipe) in runs.items():
        for name, (wall, cpu, peak) in (("photorescue (defaults)", ours), ("recipe", recipe)):
            print(
                f"{label:14} {name:24} {photos / wall:9.2f} {cpu / photos:12.3f} {peak / 1e6:12.0f}"
            )
    for label, (_, ours, recipe) in runs.items():
        print(f"{label}: photorescue / recipe photos/s = {recipe[0] / ours[0]:.1f}x")


if __name__ == "__main__":
    main()
