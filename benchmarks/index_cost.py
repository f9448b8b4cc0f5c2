"""What the self-describing backup costs in DEST, and how fast an index is rebuilt, in one
invocation.

    python benchmarks/index_cost.py CORPUS

Backs the corpus up at the default settings, then measures, over every segment: the bytes of
the records each video carries (segment_records.py) and of its subtitle track, against the
videos without them (the baseline: what 0.3 wrote) and against DEST as a whole; then deletes
every sidecar and times `repair` (which rebuilds them all from the videos) against `ls` on
the intact backup.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
from harness import measure

from photorescue_batch.catalog import load_folders
from photorescue_batch.segment_records import read_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    tool = f"{sys.executable} -m photorescue_batch"
    with tempfile.TemporaryDirectory(prefix="photorescue-index-") as tmp:
        dest = Path(tmp, "backup")
        measure(f"{tool} backup '{args.corpus}' '{dest}'")
        videos = records = captions = photos = 0
        for folder in load_folders(dest, print):
            photos += len(folder.record.photos)
            for segment in folder.record.segments:
                path = folder.video(segment)
                videos += path.stat().st_size
                records += len(read_records(path) or b"")
                with av.open(str(path)) as container:
                    captions += sum(p.size for p in container.demux(container.streams.subtitles[0]))
        total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
        sidecars = sum(p.stat().st_size for p in dest.rglob("*.xml.gz"))
        ls_wall, _, _ = measure(f"{tool} ls '{dest}'")
        for sidecar in dest.rglob("*.xml*"):
            sidecar.unlink()
        repair_wall, _, _ = measure(f"{tool} repair '{dest}'")
        rebuilt = sum(len(f.record.photos) for f in load_folders(dest, sys.exit))
        if rebuilt != photos:
            sys.exit(f"repair gave back {rebuilt} of {photos} photos")
    bare = videos - records - captions
    lines = [
        f"{time.strftime('%Y-%m-%d')}: {photos} corpus photos, default settings",
        f"{'what':44} {'bytes':>12} {'x videos without':>17} {'% of DEST':>10}",
        f"{'videos without records or subtitles (0.3)':44} {bare:>12} {1:>17.4f} "
        f"{100 * bare / total:>9.2f}%",
        f"{'records carried in the videos':44} {records:>12} {records / bare:>17.4f} "
        f"{100 * records / total:>9.2f}%",
        f"{'subtitle track (names and dates)':44} {captions:>12} {captions / bare:>17.4f} "
        f"{100 * captions / total:>9.2f}%",
        f"{'sidecars':44} {sidecars:>12} {sidecars / bare:>17.4f} {100 * sidecars / total:>9.2f}%",
        f"repair with every sidecar deleted: {repair_wall:.2f} s; ls of the intact backup: "
        f"{ls_wall:.2f} s ({repair_wall / ls_wall:.1f}x)",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(exist_ok=True)
    (args.out / "index_cost.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
