"""What the benchmarks share: measuring a process tree, and real-photo test pictures."""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from PIL import Image, ImageOps


class PeakRss:
    """Samples the summed RSS of a process and all its descendants, from /proc."""

    def __init__(self, root: int) -> None:
        self.root, self.peak, self._stop = root, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, tree_rss(self.root))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def tree_rss(root: int) -> int:
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


def mosaic(corpus: list[Path], size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A picture of `size` tiled 2 x 2 with corpus photos, each cropped to fill its tile."""
    width, height = size
    canvas = Image.new("RGB", size)
    tile = (width // 2, height // 2)
    for x, y in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        with Image.open(rng.choice(corpus)) as photo:
            picture = ImageOps.fit(photo.convert("RGB"), tile, Image.Resampling.BICUBIC)
        canvas.paste(picture, (x * tile[0], y * tile[1]))
    return canvas
