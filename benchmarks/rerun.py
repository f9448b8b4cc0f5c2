"""What a rerun costs against the first run, in one invocation: a backup grows by what changed.

    python benchmarks/rerun.py CORPUS [--camera 40] [--folder 1000] [--added 10]

Two libraries of real-photo mosaics (2 x 2 corpus photos each, so frames carry a real photo's
detail), backed up at the default settings with `photorescue backup`:

- camera: --camera distinct 24 MP photos in one folder. Then one photo is deleted, one is
  damaged in place (same size and mtime) and one is added, and the backup runs again.
- big folder: --folder 12 MP photos in one folder (hard links to 48 distinct pictures, cycled
  so that neighbours always differ, as unrelated shots do); then --added new photos are added
  and the backup runs again.

Prints each run's wall seconds and CPU seconds (all processes), and the rerun as a share of
the first run. The rerun reads the folder's sidecar, encodes only the new photos into a new
segment and rewrites the sidecar; the first segment's video is left as it is.
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

from photorescue_batch.demo import save_photo

CAMERA = (6000, 4000)
FOLDER = (4000, 3000)
DISTINCT = 48


def make_photos(corpus: list[Path], where: Path, count: int, size: tuple[int, int], seed: int):
    """`count` distinct mosaics of `size`, saved as camera JPEGs without a capture time."""
    where.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        path = where / f"IMG_{seed:02}{i:04}.jpg"
        save_photo(path, mosaic(corpus, size, rng), None, quality=92)
        paths.append(path)
    return paths


def backup(library: Path, dest: Path) -> tuple[float, float]:
    command = f"{sys.executable} -m photorescue_batch backup '{library}' '{dest}'"
    wall, cpu, _ = measure(f"{command}; test $? -le 1")  # 1: the damaged photo is reported
    return wall, cpu


def damage_in_place(path: Path) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--camera", type=int, default=40)
    parser.add_argument("--folder", type=int, default=1000)
    parser.add_argument("--added", type=int, default=10)
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    corpus = sorted(args.corpus.rglob("*.jpg"))
    if not corpus:
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="photorescue-rerun-", dir=args.work) as tmp:
        work = Path(tmp)
        if args.camera:
            print(f"generating {args.camera + 1} distinct 24 MP photos ...", flush=True)
            library = work / "camera"
            photos = make_photos(corpus, library / "DCIM", args.camera, CAMERA, seed=1)
            spare = make_photos(corpus, work / "spare", 1, CAMERA, seed=2)
            first = backup(library, work / "dest-camera")
            photos[3].unlink()
            damage_in_place(photos[7])
            shutil.copy2(spare[0], library / "DCIM" / spare[0].name)
            again = backup(library, work / "dest-camera")
            name = f"{args.camera} photos of 24 MP: -1 deleted, 1 damaged, +1"
            rows.append((name, first, again))
        if args.folder:
            print(f"generating {DISTINCT + args.added} distinct 12 MP photos ...", flush=True)
            distinct = make_photos(corpus, work / "distinct", DISTINCT, FOLDER, seed=3)
            added = make_photos(corpus, work / "added", args.added, FOLDER, seed=4)
            folder = work / "big" / "Phone"
            folder.mkdir(parents=True)
            for i in range(args.folder):
                os.link(distinct[i % DISTINCT], folder / f"IMG_{i:05}.jpg")
            print(f"backing up one folder of {args.folder} ...", flush=True)
            first = backup(work / "big", work / "dest-big")
            for path in added:
                shutil.copy2(path, folder / f"NEW_{path.name}")
            again = backup(work / "big", work / "dest-big")
            rows.append((f"{args.folder} photos of 12 MP, +{args.added}", first, again))
    print()
    print(f"{'library':48}{'first s':>9}{'rerun s':>9}{'rerun/first':>13}{'CPU rerun/first':>17}")
    for name, (wall, cpu), (wall2, cpu2) in rows:
        print(f"{name:48}{wall:9.1f}{wall2:9.1f}{wall2 / wall:12.1%}{cpu2 / cpu:16.1%}")


if __name__ == "__main__":
    main()
