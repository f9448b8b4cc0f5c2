"""Where the time goes, per photo: read, decode, orient and resize, transfer, encode, commit.

    python benchmarks/stages.py CORPUS [--box 2048] [--big 4]

Runs each stage of one folder's pipeline by itself, in one process, on the corpus photos and on
`--big` generated 24 MP (6000 x 4000) photo-like JPEGs, and prints ms per photo for each stage.
It also prices the resize filter: BICUBIC against LANCZOS, in time and in SSIM against LANCZOS.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from photorescue_batch.cli import pillow_flavour
from photorescue_batch.demo import photo_like
from photorescue_batch.encode import PRESETS, VideoWriter, quiet_encoders
from photorescue_batch.photo import Frame, fit, make_frame, open_photo, upright_size
from photorescue_batch.similarity import ssim


def stage_times(paths: list[Path], box: int, work: Path) -> dict[str, float]:
    """Mean ms per photo of each stage."""
    totals = dict.fromkeys(["read", "decode (draft)", "orient+resize", "transfer"], 0.0)
    frames: list[Frame] = []
    for path in paths:
        t0 = time.perf_counter()
        data = path.read_bytes()
        hashlib.sha256(data)
        t1 = time.perf_counter()
        image = open_photo(data, path)
        target = fit(*image.size, box)
        if image.format == "JPEG":
            image.draft("RGB", upright_size((target.w, target.h), 1))
        image = image.convert("RGB")
        t2 = time.perf_counter()
        image.resize((target.w, target.h), Image.Resampling.LANCZOS)
        t3 = time.perf_counter()
        frame = make_frame(path, 1, box)
        t4 = time.perf_counter()
        pickle.loads(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
        t5 = time.perf_counter()
        totals["read"] += t1 - t0
        totals["decode (draft)"] += t2 - t1
        totals["orient+resize"] += t3 - t2
        totals["transfer"] += t5 - t4
        frames.append(frame)
    video = work / "stages.mp4"
    t0 = time.perf_counter()
    writer = VideoWriter(video, "av1", PRESETS["av1"].levels["standard"], box)
    for frame in frames:
        writer.write(frame.letterboxed(box), frame.signature)
    t1 = time.perf_counter()
    writer.close()
    with open(video, "rb+") as f:
        os.fsync(f.fileno())
    hashlib.sha256(video.read_bytes())
    os.replace(video, work / "final.mp4")
    t2 = time.perf_counter()
    n = len(paths)
    out = {k: 1000 * v / n for k, v in totals.items()}
    # SVT-AV1 looks ahead, so much of the encoding happens in the final flush: read the two
    # rows together as the encoder's cost.
    out["encode: write frames"] = 1000 * (t1 - t0) / n
    out["encode: flush + fsync + hash"] = 1000 * (t2 - t1) / n
    return out


def filter_price(paths: list[Path], box: int) -> tuple[float, float, float]:
    """ms of LANCZOS and BICUBIC resizes per photo, and BICUBIC's mean SSIM against LANCZOS."""
    lanczos_ms, bicubic_ms, scores = [], [], []
    for path in paths:
        image = Image.open(path).convert("RGB")
        target = fit(*image.size, box)
        size = (target.w, target.h)
        t0 = time.perf_counter()
        a = image.resize(size, Image.Resampling.LANCZOS)
        t1 = time.perf_counter()
        b = image.resize(size, Image.Resampling.BICUBIC)
        t2 = time.perf_counter()
        lanczos_ms.append(1000 * (t1 - t0))
        bicubic_ms.append(1000 * (t2 - t1))
        scores.append(ssim(np.asarray(a), np.asarray(b)))
    return statistics.mean(lanczos_ms), statistics.mean(bicubic_ms), statistics.mean(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--box", type=int, default=2048)
    parser.add_argument("--big", type=int, default=4, help="generated 24 MP photos")
    args = parser.parse_args()
    quiet_encoders()
    corpus = sorted(args.corpus.rglob("*.jpg"))
    if not corpus:
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    with tempfile.TemporaryDirectory(prefix="photorescue-stages-") as tmp:
        work = Path(tmp)
        big = []
        for i in range(args.big):
            path = work / f"big{i}.jpg"
            buffer = io.BytesIO()
            photo_like(6000, 4000, seed=i).save(buffer, "JPEG", quality=92)
            path.write_bytes(buffer.getvalue())
            big.append(path)
        sets = {"corpus": corpus}
        if big:
            sets["24 MP"] = big
        results = {name: stage_times(paths, args.box, work) for name, paths in sets.items()}
        price = filter_price(big or corpus, args.box)
    print(f"box {args.box}, one process, {pillow_flavour()}")
    names = list(results)
    print(f"{'stage':30}" + "".join(f"{n + ' ms/photo':>20}" for n in names))
    for stage in results[names[0]]:
        print(f"{stage:30}" + "".join(f"{results[n][stage]:20.1f}" for n in names))
    print(f"{'total':30}" + "".join(f"{sum(results[n].values()):20.1f}" for n in names))
    lanczos, bicubic, score = price
    print(
        f"resize on {'24 MP' if big else 'corpus'} photos: LANCZOS {lanczos:.0f} ms, "
        f"BICUBIC {bicubic:.0f} ms ({lanczos / bicubic:.2f}x faster), "
        f"BICUBIC vs LANCZOS SSIM {score:.4f}"
    )


if __name__ == "__main__":
    main()
