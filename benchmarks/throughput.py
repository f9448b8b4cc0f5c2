"""Throughput: photorescue against the reference recipe on the same photos, in one invocation.

    python benchmarks/throughput.py CORPUS [--box 2048] [--mosaics 20]

The recipe is ImageMagick `convert` per photo into an MJPEG pipe, `ffmpeg -r 1 -vcodec prores_ks
-qscale 16`, and `exiftool -X`, folder by folder (needs /usr/bin/convert, ffmpeg, exiftool; `make
bench` installs them). Between them runs photorescue with the recipe's codec (ProRes), which
tells our pipeline's speed from the AV1 encoder's. For each it prints photos/s, the ratio to the
recipe's, CPU seconds per photo (all processes) and the peak RSS summed over the process tree.
With --mosaics N it does the same on N 24 MP mosaics of corpus photos, a modern camera's size.
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
RECIPE = "recipe"


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


def compare(library: Path, work: Path, box: int) -> tuple[int, dict[str, tuple]]:
    """Photos, and (wall, CPU, peak RSS) of each run on `library`: photorescue at its defaults,
    photorescue with the recipe's codec (ProRes), and the recipe."""
    backup = f"'{sys.executable}' -m photorescue_batch backup '{library}' --box {box}"
    runs = {
        "photorescue (defaults)": measure(f"{backup} '{work / 'av1'}'"),
        "photorescue --codec prores": measure(f"{backup} '{work / 'prores'}' --codec prores"),
        RECIPE: measure(recipe_script(library, work / "recipe", box)),
    }
    return len(list(library.rglob("*.jpg"))), runs


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
    print(
        f"{'photos':14} {'run':28} {'photos/s':>9} {'x recipe':>9} {'CPU s/photo':>12} "
        f"{'peak RSS MB':>12}"
    )
    for label, (photos, measured) in runs.items():
        recipe_wall = measured[RECIPE][0]
        for name, (wall, cpu, peak) in measured.items():
            print(
                f"{label:14} {name:28} {photos / wall:9.2f} {recipe_wall / wall:9.1f} "
                f"{cpu / photos:12.3f} {peak / 1e6:12.0f}"
            )


if __name__ == "__main__":
    main()
