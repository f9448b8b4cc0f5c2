"""What looking for a motion photo's clip costs per photo, against hashing the photo (which
every backed-up photo pays anyway), in one invocation.

    python benchmarks/trailer_scan.py CORPUS

Times `trailer.find_trailer` over every corpus JPEG (the fast path for a file that ends in its
image's EOI, and the full walk through its segments and entropy-coded data otherwise) next to
`checksum.sha256_file` of the same files, warm in the page cache, best of three.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from photorescue_batch.checksum import sha256_file
from photorescue_batch.trailer import find_trailer, image_end


def best(what, files: list[Path]) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        for path in files:
            what(path)
        times.append(time.perf_counter() - started)
    return min(times) / len(files) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    args = parser.parse_args()
    files = sorted(args.corpus.rglob("*.jpg"))
    found = sum(find_trailer(path, None) is not None for path in files)
    rows = [
        ("sha256 of the file (baseline)", best(sha256_file, files)),
        ("find_trailer (what a backup runs)", best(lambda p: find_trailer(p, None), files)),
        ("full walk to the EOI (no fast path)", best(image_end, files)),
    ]
    print(f"{len(files)} corpus JPEGs, {found} with bytes after their image")
    print(f"{'what':40} {'ms/photo':>9} {'x sha256':>9}")
    for name, ms in rows:
        print(f"{name:40} {ms:>9.3f} {ms / rows[0][1]:>9.3f}")


if __name__ == "__main__":
    main()
