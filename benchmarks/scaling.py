"""Scaling: does time grow linearly with the photo count, and memory not at all with folder size?

    python benchmarks/scaling.py CORPUS [--photos 5000] [--folders 250] [--big-folder 2000]

Makes 72 JPEGs of 12 to 24 MP (sizes differ; some stored sideways with Orientation 6), each a
2 x 2 mosaic of real corpus photos, so that the frames carry a real photo's detail at the
default box, then builds libraries of hard links to them: thousands of photos cost no disk and
no generation time. Neighbouring photos always differ, as unrelated shots do: the encoder's
worst case. Runs `photorescue backup` at the default settings on:

- a library of --photos photos in --folders folders: photos/s when the first 1,000 photos are
  committed and when all are, read from the sidecars appearing in DEST;
- one folder of 50 photos and one of --big-folder photos, all 24 MP: peak RSS summed over
  the process tree, which must not grow with the folder; the big one's photos/s gives the
  projection for 100,000 photos of 24 MP;
- --singles folders of one 24 MP photo each: what a folder costs beyond its photos.

A count of 0 skips its run.

The photos are read from the page cache here; a real library also waits on its disk.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import PeakRss, mosaic

from photorescue_batch.demo import save_photo

# (width, height) of the unique photos: 12 to 24 MP, landscape, portrait and square-ish.
SIZES = [(4000, 3000), (4240, 2832), (4608, 3456), (5184, 3456), (5472, 3648), (6000, 4000)]
# Enough distinct pictures per size that the encoder sees a fair mix of easy and hard ones.
UNIQUE_PER_SIZE = 12
BIG = (6000, 4000)


def make_originals(corpus: list[Path], where: Path) -> tuple[list[Path], list[Path]]:
    """The unique photos: every size, and the 24 MP ones on their own."""
    all_sizes, big = [], []
    rng = random.Random(7)
    for s, (width, height) in enumerate(SIZES):
        for k in range(UNIQUE_PER_SIZE):
            n = s * UNIQUE_PER_SIZE + k
            path = where / f"unique{n:03}.jpg"
            orientation = 6 if k % 4 == 3 else 1  # portraits, stored sideways as cameras do
            upright = mosaic(corpus, (height, width) if orientation == 6 else (width, height), rng)
            # No capture time: all links to a photo would share it, capture order would then put
            # identical photos side by side, and the encoder would predict them almost for free.
            save_photo(path, upright, None, orientation, quality=92)
            all_sizes.append(path)
            if (width, height) == BIG:
                big.append(path)
    return all_sizes, big


def link_library(root: Path, originals: list[Path], folders: int, per_folder: int) -> Path:
    """A library of hard links: folder f, photo i links original (f + i) mod n."""
    for f in range(folders):
        folder = root / f"{2000 + f // 12}" / f"{f % 12 + 1:02}-event{f:03}"
        folder.mkdir(parents=True)
        for i in range(per_folder):
            os.link(originals[(f + i) % len(originals)], folder / f"IMG_{i:05}.jpg")
    return root


def run_backup(library: Path, dest: Path, marks: list[int]) -> dict[str, float]:
    """Back up `library`; wall seconds until each mark of committed photos, CPU and peak RSS."""
    per_folder = {
        folder.relative_to(library): sum(1 for _ in folder.iterdir())
        for folder in {p.parent for p in library.rglob("*.jpg")}
    }
    command = [sys.executable, "-m", "photorescue_batch", "backup", str(library), str(dest)]
    before = os.times()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = PeakRss(process.pid)
    reached: dict[int, float] = {}
    while process.poll() is None:
        time.sleep(0.2)
        done = sum(per_folder[p.parent.relative_to(dest)] for p in dest.rglob("*.xml"))
        for mark in marks:
            if done >= mark and mark not in reached:
                reached[mark] = time.perf_counter() - started
    wall = time.perf_counter() - started
    peak = sampler.stop()
    if process.returncode != 0:
        sys.exit(f"photorescue backup {library} ended with exit code {process.returncode}")
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    photos = sum(per_folder.values())
    result = {"photos": photos, "wall": wall, "cpu": cpu, "peak": peak}
    result.update({f"at {mark}": reached.get(mark, wall) for mark in marks})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument("--folders", type=int, default=250)
    parser.add_argument("--small-folder", type=int, default=50)
    parser.add_argument("--big-folder", type=int, default=2000)
    parser.add_argument("--singles", type=int, default=100)
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    first = min(1000, args.photos)
    corpus = sorted(args.corpus.rglob("*.jpg"))
    if not corpus:
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    with tempfile.TemporaryDirectory(prefix="photorescue-scaling-", dir=args.work) as tmp:
        work = Path(tmp)
        (work / "originals").mkdir()
        print(
            f"generating {len(SIZES) * UNIQUE_PER_SIZE} unique photos of 12-24 MP ...", flush=True
        )
        all_sizes, big = make_originals(corpus, work / "originals")
        per_folder = args.photos // max(1, args.folders)
        runs = {
            "library": (f"{args.folders} folders of {per_folder}, 12-24 MP", all_sizes,
                        args.folders if per_folder else 0, per_folder, [first]),
            "small": (f"one folder of {args.small_folder}, 24 MP", big, 1, args.small_folder, []),
            "large": (f"one folder of {args.big_folder}, 24 MP", big, 1, args.big_folder, []),
            "singles": (f"{args.singles} folders of 1, 24 MP", big, args.singles, 1, []),
        }  # fmt: skip
        rows = {}
        for key, (name, originals, folders, photos, marks) in runs.items():
            if folders and photos:
                library = link_library(work / key, originals, folders, photos)
                print(f"backing up {name} ...", flush=True)
                rows[key] = (name, run_backup(library, work / f"dest-{key}", marks))
    print()
    print(
        f"{'run':36}{'photos':>8}{'seconds':>9}{'photos/s':>10}{'CPU s/photo':>13}{'peak RSS':>10}"
    )
    for name, r in rows.values():
        print(
            f"{name:36}{r['photos']:8.0f}{r['wall']:9.1f}{r['photos'] / r['wall']:10.2f}"
            f"{r['cpu'] / r['photos']:13.3f}{r['peak'] / 1e6:8.0f} MB"
        )
    report(rows, first)


def report(rows: dict[str, tuple[str, dict[str, float]]], first: int) -> None:
    """The conclusions: linearity, memory against folder size, projection, cost of a folder."""
    rate = {key: r["photos"] / r["wall"] for key, (_, r) in rows.items()}
    if "library" in rows:
        lib = rows["library"][1]
        at_first = lib[f"at {first}"]
        rest = lib["photos"] - first
        late = (
            f"{rest / (lib['wall'] - at_first):.2f} over the remaining {rest:.0f}, " if rest else ""
        )
        print(
            f"linearity: {first / at_first:.2f} photos/s over the first {first} photos, {late}"
            f"{rate['library']:.2f} over all {lib['photos']:.0f}"
        )
    if "small" in rows and "large" in rows:
        small, large = rows["small"][1], rows["large"][1]
        print(
            f"memory: peak RSS {small['peak'] / 1e6:.0f} MB for a folder of {small['photos']:.0f}, "
            f"{large['peak'] / 1e6:.0f} MB for {large['photos']:.0f} "
            f"({large['peak'] / small['peak']:.2f}x)"
        )
    if "large" in rows:
        print(
            f"projection: 100,000 photos of 24 MP at {rate['large']:.2f} photos/s "
            f"= {1e5 / rate['large'] / 3600:.1f} h"
        )
    if "singles" in rows and "large" in rows:
        extra = 1 / rate["singles"] - 1 / rate["large"]
        print(f"a folder costs {extra:.2f} s beyond its photos (one-photo folders vs the big one)")


if __name__ == "__main__":
    main()
