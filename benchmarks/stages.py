"""Where the time goes, per photo: read, decode, orient and resize, transfer, encode, commit.

    python benchmarks/stages.py CORPUS [--box 2048] [--big 8]

Runs each stage of one folder's pipeline by itself, in one process, on the corpus photos and on
`--big` 24 MP (6000 x 4000) mosaics of corpus photos, and prints CPU ms per photo for each stage
(the encoder's own threads included): what the two cores have to supply. Then it runs the
workers' whole task in a pool of one and of two processes, to show how far the second core
helps, prices the resize filter (BICUBIC against LANCZOS, in time and in SSIM), and sets the
default encoder beside the settings it was chosen over, on the same frames.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from itertools import repeat
from pathlib import Path

import av
import numpy as np
from harness import mosaic
from joblib.externals.loky import get_reusable_executor
from PIL import Image

from photorescue_batch.cli import pillow_flavour
from photorescue_batch.decode import iter_frames
from photorescue_batch.encode import (
    ACCURATE_SWS,
    CODECS,
    COLOR_RANGE,
    COLORSPACE,
    VideoWriter,
    quiet_encoders,
    return_freed_memory,
)
from photorescue_batch.metadata import read_metadata
from photorescue_batch.photo import (
    FittedPhoto,
    decode_draft,
    fit,
    fit_photo,
    open_photo,
    shrink_upright,
    upright_size,
)
from photorescue_batch.pipeline import convert_photo
from photorescue_batch.similarity import ssim


def stage_times(paths: list[Path], box: int, work: Path) -> dict[str, float]:
    """Mean ms per photo of each stage, run one after another in this process."""
    totals = dict.fromkeys(["read + hash + EXIF", "decode (draft)", "orient + resize"], 0.0)
    totals["transfer"] = 0.0
    frames: list[FittedPhoto] = []
    for path in paths:
        t0 = time.process_time()
        data = path.read_bytes()
        hashlib.sha256(data)
        orientation = read_metadata(path).orientation
        t1 = time.process_time()
        image = open_photo(path)
        placement = fit(*upright_size(image.size, orientation), box)
        decoded = decode_draft(image, upright_size((placement.w, placement.h), orientation), path)
        t2 = time.process_time()
        shrink_upright(decoded, orientation, placement)
        t3 = time.process_time()
        frame = fit_photo(path, orientation, box)
        t4 = time.process_time()
        pickle.loads(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
        t5 = time.process_time()
        totals["read + hash + EXIF"] += t1 - t0
        totals["decode (draft)"] += t2 - t1
        totals["orient + resize"] += t3 - t2
        totals["transfer"] += t5 - t4
        frames.append(frame)
    t0 = time.process_time()
    for frame in frames:
        to_yuv(frame.letterboxed(box))
    totals["letterbox + RGB->YUV"] = time.process_time() - t0
    video = work / "stages.mp4"
    t0 = time.process_time()
    writer = VideoWriter(video, "av1", CODECS["av1"].levels["standard"], box)
    for frame in frames:
        writer.write(frame.letterboxed(box), frame.signature)
    t1 = time.process_time()
    writer.close()
    with open(video, "rb+") as f:
        os.fsync(f.fileno())
    hashlib.sha256(video.read_bytes())
    os.replace(video, work / "final.mp4")
    t2 = time.process_time()
    n = len(paths)
    out = {k: 1000 * v / n for k, v in totals.items()}
    # The writer converts to YUV itself: the encoder's own cost is what is left of its time.
    # Encoders hold frames back (a burst's, SVT-AV1's pipeline), so it includes the flush.
    out["encode"] = 1000 * (t1 - t0) / n - out["letterbox + RGB->YUV"]
    out["flush + commit"] = 1000 * (t2 - t1) / n
    return out


def to_yuv(rgb: np.ndarray) -> None:
    av.VideoFrame.from_numpy_buffer(rgb, format="rgb24").reformat(
        format="yuv420p",
        dst_colorspace=COLORSPACE,
        dst_color_range=COLOR_RANGE,
        interpolation=ACCURATE_SWS,
    )


def pool_ms(paths: list[Path], box: int, n_jobs: int) -> float:
    """Wall ms per photo of the workers' whole task (`convert_photo`) in a pool of n_jobs
    processes, results shipped back as the pipeline ships them. (joblib runs n_jobs=1 in
    this process, which ships nothing: a pool of one is what the second process adds to.)"""
    items = (paths * (1 + 32 // len(paths)))[: max(32, len(paths))]
    executor = get_reusable_executor(max_workers=n_jobs)
    list(executor.map(convert_photo, items[: 2 * n_jobs], repeat(False), repeat(box)))
    started = time.perf_counter()  # the workers have started and imported everything
    list(executor.map(convert_photo, items, repeat(False), repeat(box)))
    return 1000 * (time.perf_counter() - started) / len(items)


def filter_price(paths: list[Path], box: int) -> tuple[float, float, float]:
    """ms of LANCZOS and BICUBIC resizes per photo from the draft decode, as the workers do
    them, and BICUBIC's mean SSIM against LANCZOS."""
    lanczos_ms, bicubic_ms, scores = [], [], []
    for path in paths:
        image = Image.open(path)
        target = fit(*image.size, box)
        size = (target.w, target.h)
        image = decode_draft(image, size, path)
        t0 = time.process_time()
        a = image.resize(size, Image.Resampling.LANCZOS)
        t1 = time.process_time()
        b = image.resize(size, Image.Resampling.BICUBIC)
        t2 = time.process_time()
        lanczos_ms.append(1000 * (t1 - t0))
        bicubic_ms.append(1000 * (t2 - t1))
        scores.append(ssim(np.asarray(a), np.asarray(b)))
    return statistics.mean(lanczos_ms), statistics.mean(bicubic_ms), statistics.mean(scores)


DEFAULT = "all-intra + bursts (default)"
AV1 = CODECS["av1"]
# The default against the choices it was measured against: one random-access encoder for
# every photo, unrelated ones forced to keyframes (0.2), and the intra encoder's preset and
# thread count (lp) pinned instead of picked from the cores.
ENCODER_VARIANTS = {
    DEFAULT: AV1,
    "one random-access encoder (0.2)": replace(
        AV1,
        pix_fmt="yuv420p",
        options=lambda q: {"crf": str(q), "preset": "10", "svtav1-params": "scd=0"},
        intra_options=None,
    ),
    "intra preset 10": replace(
        AV1, intra_options=lambda q: AV1.intra_options(q) | {"preset": "10"}
    ),
    "intra lp=1": replace(
        AV1,
        intra_options=lambda q: (
            AV1.intra_options(q)
            | {"svtav1-params": AV1.intra_options(q)["svtav1-params"] + ":lp=1"}
        ),
    ),
}


def encoder_settings(
    frames: list[FittedPhoto], box: int, work: Path
) -> dict[str, dict[str, float]]:
    """CPU and wall ms per frame, bytes and SSIM of each encoder variant on the same frames,
    and the process's RSS growth while encoding and after the encoder is closed."""
    standard = CODECS["av1"].levels["standard"]
    results = {}
    for name, codec in ENCODER_VARIANTS.items():
        CODECS["variant"] = codec
        video = work / "variant.mp4"
        return_freed_memory()  # what the last variant freed is not counted against this one
        rss0, cpu0, wall0 = rss(), time.process_time(), time.perf_counter()
        writer = VideoWriter(video, "variant", standard, box)
        for frame in frames:
            writer.write(frame.letterboxed(box), frame.signature)
        encoding = rss()
        writer.close()
        n = len(frames)
        results[name] = {
            "cpu": 1000 * (time.process_time() - cpu0) / n,
            "wall": 1000 * (time.perf_counter() - wall0) / n,
            "bytes": video.stat().st_size,
            "rss while": encoding - rss0,
            "rss after": rss() - rss0,
        }
        scores = [
            ssim(decoded[f.placement.y : f.placement.y + f.placement.h,
                         f.placement.x : f.placement.x + f.placement.w],
                 np.frombuffer(f.content, np.uint8).reshape(f.placement.h, f.placement.w, 3))
            for f, decoded in zip(frames, iter_frames(video), strict=True)
        ]  # fmt: skip
        results[name] |= {"mean": statistics.mean(scores), "min": min(scores)}
    del CODECS["variant"]
    return results


def rss() -> int:
    """This process's resident set, in bytes."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--box", type=int, default=2048)
    parser.add_argument("--big", type=int, default=8, help="24 MP mosaics of corpus photos")
    args = parser.parse_args()
    quiet_encoders()
    corpus = sorted(args.corpus.rglob("*.jpg"))
    if not corpus:
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    with tempfile.TemporaryDirectory(prefix="photorescue-stages-") as tmp:
        work = Path(tmp)
        rng = random.Random(11)
        big = []
        for i in range(args.big):
            path = work / f"big{i}.jpg"
            mosaic(corpus, (6000, 4000), rng).save(path, "JPEG", quality=92)
            big.append(path)
        sets = {"corpus": corpus}
        if big:
            sets["24 MP"] = big
        results = {name: stage_times(paths, args.box, work) for name, paths in sets.items()}
        pools = {
            name: (pool_ms(paths, args.box, 1), pool_ms(paths, args.box, 2))
            for name, paths in sets.items()
        }
        price = filter_price(big or corpus, args.box)
        variants = encoder_settings([fit_photo(p, 1, args.box) for p in corpus], args.box, work)
    print(f"box {args.box}, av1 standard, {pillow_flavour()}; CPU ms per photo, one process")
    names = list(results)
    print(f"{'stage':30}" + "".join(f"{n + ' ms/photo':>20}" for n in names))
    for stage in results[names[0]]:
        print(f"{stage:30}" + "".join(f"{results[n][stage]:20.1f}" for n in names))
    totals = {n: sum(results[n].values()) for n in names}
    print(f"{'total':30}" + "".join(f"{totals[n]:20.1f}" for n in names))
    print(
        f"{'photos/s if 2 cores were ideal':30}"
        + "".join(f"{2000 / totals[n]:20.1f}" for n in names)
    )
    for name, (one, two) in pools.items():
        print(
            f"workers' task on {name} photos: {one:.0f} ms/photo with one process, {two:.0f} with "
            f"two ({one / two:.2f}x from the second core)"
        )
    lanczos, bicubic, score = price
    print(
        f"resize on {'24 MP' if big else 'corpus'} photos: LANCZOS {lanczos:.0f} ms, "
        f"BICUBIC {bicubic:.0f} ms ({lanczos / bicubic:.2f}x faster), "
        f"BICUBIC vs LANCZOS SSIM {score:.4f}"
    )
    print(f"\nencoder on the {len(corpus)} corpus frames, one process, at the standard level:")
    print(
        f"{'variant':30}{'CPU ms':>8}{'x':>6}{'wall ms':>9}{'bytes':>10}{'x':>6}"
        f"{'mean SSIM':>10}{'min SSIM':>10}"
    )
    default = variants[DEFAULT]
    for name, v in variants.items():
        print(
            f"{name:30}{v['cpu']:8.0f}{v['cpu'] / default['cpu']:6.2f}{v['wall']:9.0f}"
            f"{v['bytes']:10.0f}{v['bytes'] / default['bytes']:6.2f}{v['mean']:10.4f}"
            f"{v['min']:10.4f}"
        )
    print(
        f"RSS of the default encoder: +{default['rss while'] / 1e6:.0f} MB while encoding, "
        f"+{default['rss after'] / 1e6:.0f} MB once closed (its memory goes back to the OS)"
    )


if __name__ == "__main__":
    main()
