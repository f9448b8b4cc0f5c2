"""Throughput: photorescue against the reference recipe on the same photos, in one invocation.

    python benchmarks/throughput.py CORPUS [--box 2048]

The recipe is ImageMagick `convert` per photo into an MJPEG pipe, `ffmpeg -r 1 -vcodec prores_ks
-qscale 16`, and `exiftool -X`, folder by folder (needs /usr/bin/convert, ffmpeg, exiftool; `make
bench` installs them). For each it prints photos/s, CPU seconds per photo (all processes) and
the peak RSS summed over the process tree, then the ratio of photos/s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RECIPE_CONVERT = "/usr/bin/convert"


class PeakRss:
    """Samples the summed RSS of a process and all its descendants, from /proc."""

    def __init__(self, root: int) -> None:
        self.root, self.peak, self._stop = root, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _tree_rss(self.root))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _tree_rss(root: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measure(script: str) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of all children, peak summed RSS of a shell script."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(["bash", "-c", script], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    sampler = PeakRss(process.pid)
    if process.wait() != 0:
        sys.exit(f"failed: {script[:200]}")
    peak = sampler.stop()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--box", type=int, default=2048)
    args = parser.parse_args()
    photos = len(list(args.corpus.rglob("*.jpg")))
    if not photos:
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    if not (Path(RECIPE_CONVERT).exists() and shutil.which("ffmpeg") and shutil.which("exiftool")):
        sys.exit("the recipe needs ImageMagick, ffmpeg and exiftool (`make bench` installs them)")
    work = Path(tempfile.mkdtemp(prefix="photorescue-throughput-"))
    try:
        ours = measure(
            f"'{sys.executable}' -m photorescue_batch backup '{args.corpus}' '{work / 'pr'}' "
            f"--box {args.box}"
        )
        recipe = measure(recipe_script(args.corpus, work / "recipe", args.box))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{photos} photos from {args.corpus}, box {args.box}, {os.cpu_count()} cores")
    print(f"{'run':36} {'photos/s':>9} {'CPU s/photo':>12} {'peak RSS MB':>12}")
    for name, (wall, cpu, peak) in (("photorescue (defaults)", ours), ("recipe", recipe)):
        print(f"{name:36} {photos / wall:9.2f} {cpu / photos:12.3f} {peak / 1e6:12.0f}")
    print(f"photorescue / recipe photos/s: {recipe[0] / ours[0]:.1f}x")


if __name__ == "__main__":
    main()
