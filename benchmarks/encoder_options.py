"""Encoder options as bytes at equal SSIM: which SVT-AV1 settings pay for themselves.

    python benchmarks/encoder_options.py CORPUS [--box 2048] [--limit N]

Every corpus photo is shrunk (LANCZOS) into its rect of the box, once; each variant then codes
those same frames all-intra at a few crf values, and its curve of bytes against mean content
SSIM is read at the SSIM the baseline (our intra encoder at the standard level) reaches. So the
table shows each option's bytes against the baseline's at equal quality, and its CPU per frame,
all from this one invocation. Per-image AVIF (aom speed 6, no metadata) of the same content is
read off the same way, and so are the black bars: the content coded alone, without them.
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from joblib import Parallel, delayed
from PIL import Image, ImageOps

from photorescue_batch.decode import to_rgb
from photorescue_batch.encode import (
    ACCURATE_SWS,
    CODECS,
    COLOR_RANGE,
    COLORSPACE,
    open_encoder,
    quiet_encoders,
    resolve_quality,
)
from photorescue_batch.photo import Placement, fit, letterbox
from photorescue_batch.similarity import ssim

AVIF = "per-image AVIF (aom speed 6)"


@dataclass(frozen=True)
class Shot:
    frame: np.ndarray  # box x box, letterboxed
    rect: Placement


@dataclass
class Variant:
    name: str
    params: dict[str, str]  # svtav1-params (and preset) over the intra encoder's own
    pix_fmt: str = CODECS["av1"].pix_fmt
    # "bars": letterboxed as frames are stored; "alone": the content without bars; "centred":
    # exactly centred, not on the block grid, and no edges repeated (as before 0.3)
    placing: str = "bars"
    points: list[tuple[float, int, float]] = field(default_factory=list)  # ssim, bytes, cpu ms


def load(corpus: Path, box: int, limit: int | None) -> list[Shot]:
    shots = []
    for path in sorted(corpus.rglob("*.jpg"))[:limit]:
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image).convert("RGB")
        rect = fit(*upright.size, box)
        inside = np.asarray(upright.resize((rect.w, rect.h), Image.Resampling.LANCZOS))
        shots.append(Shot(letterbox(inside, rect, box), rect))
    return shots


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def picture(shot: Shot, placing: str) -> tuple[np.ndarray, int, int]:
    """What the encoder is given for a shot, and where the content lies in it."""
    r = shot.rect
    inside = shot.frame[r.y : r.y + r.h, r.x : r.x + r.w]
    if placing == "bars":
        return shot.frame, r.x, r.y
    if placing == "alone":
        h, w = -(-r.h // 8) * 8, -(-r.w // 8) * 8  # the encoder pads to 8 itself
        out = np.zeros((h, w, 3), np.uint8)
        out[: r.h, : r.w] = inside
        return out, 0, 0
    centred = Placement((len(shot.frame) - r.w) // 2, (len(shot.frame) - r.h) // 2, r.w, r.h)
    out = np.zeros_like(shot.frame)
    out[centred.y : centred.y + r.h, centred.x : centred.x + r.w] = inside
    return out, centred.x, centred.y


def code(shots: list[Shot], variant: Variant, crf: int) -> tuple[int, float, list[np.ndarray]]:
    """All-intra bytes, CPU ms per frame and the decoded content of every shot."""
    options = {**CODECS["av1"].intra_options(0), "crf": str(crf)}
    params = dict(p.split("=", 1) for p in options.pop("svtav1-params").split(":"))
    params.update(variant.params)
    if "preset" in params:  # an option of FFmpeg's, not of svtav1-params
        options["preset"] = params.pop("preset")
    options["svtav1-params"] = ":".join(f"{k}={v}" for k, v in params.items())
    total, decoded, cpu = 0, [], 0.0
    for shot in shots:  # one encoder per size; all frames are keyframes anyway
        given, x, y = picture(shot, variant.placing)
        started = cpu_seconds()
        encoder = av.CodecContext.create("libsvtav1", "w")
        encoder.width, encoder.height = given.shape[1], given.shape[0]
        encoder.pix_fmt = variant.pix_fmt
        encoder.time_base = Fraction(1, 1)
        encoder.colorspace, encoder.color_range = COLORSPACE, COLOR_RANGE
        open_encoder(encoder, options, "intra")
        frame = av.VideoFrame.from_ndarray(given, format="rgb24").reformat(
            format=variant.pix_fmt,
            dst_colorspace=COLORSPACE,
            dst_color_range=COLOR_RANGE,
            interpolation=ACCURATE_SWS,
        )
        frame.pts = 0
        packets = encoder.encode(frame) + encoder.encode(None)
        cpu += cpu_seconds() - started
        total += sum(p.size for p in packets)
        decoder = av.CodecContext.create("libdav1d", "r")
        [out] = [f for p in packets for f in decoder.decode(p)] + decoder.decode(None)
        r = shot.rect
        decoded.append(to_rgb(out)[y : y + r.h, x : x + r.w])
    return total, 1000 * cpu / len(shots), decoded


def reference(shot: Shot) -> np.ndarray:
    r = shot.rect
    return shot.frame[r.y : r.y + r.h, r.x : r.x + r.w]


def mean_ssim(shots: list[Shot], decoded: list[np.ndarray]) -> float:
    scores = Parallel(n_jobs=2)(
        delayed(ssim)(d, reference(s)) for s, d in zip(shots, decoded, strict=True)
    )
    return float(np.mean(scores))


def avif_points(shots: list[Shot], qualities: list[int]) -> list[tuple[float, int, float]]:
    import pillow_avif  # noqa: F401  (registers AVIF with Pillow; from the bench extra)

    points = []
    for q in qualities:
        total, decoded, started = 0, [], cpu_seconds()
        for shot in shots:
            buffer = io.BytesIO()
            Image.fromarray(reference(shot)).save(buffer, "AVIF", quality=q, speed=6)
            total += buffer.tell()
            buffer.seek(0)
            decoded.append(np.asarray(Image.open(buffer).convert("RGB")))
        ms = 1000 * (cpu_seconds() - started) / len(shots)
        points.append((mean_ssim(shots, decoded), total, ms))
    return points


STEP = 6  # crf


def measure(shots: list[Shot], variant: Variant, crf: int) -> float:
    """Code the shots at one crf; adds a point to the variant's curve, returns its mean SSIM."""
    total, ms, decoded = code(shots, variant, crf)
    variant.points.append((mean_ssim(shots, decoded), total, ms))
    print(f"  {variant.name} crf {crf}: SSIM {variant.points[-1][0]:.4f}, "
          f"{total / len(shots) / 1024:.1f} KB, {ms:.0f} ms", flush=True)  # fmt: skip
    return variant.points[-1][0]


def bracket(shots: list[Shot], variant: Variant, crf: int, target: float) -> None:
    """Points on both sides of the target SSIM, STEP crf apart (crf falls as SSIM rises)."""
    below = above = False
    while not (below and above) and 1 <= crf <= 63:
        quality = measure(shots, variant, crf)
        below, above = below or quality <= target, above or quality >= target
        crf += STEP if quality > target else -STEP


def bytes_at(points: list[tuple[float, int, float]], target: float) -> float | None:
    """Bytes at a mean SSIM, interpolated log-linearly along a curve."""
    curve = sorted((s, np.log(b)) for s, b, _ in points)
    if not curve[0][0] <= target <= curve[-1][0]:
        return None
    return float(np.exp(np.interp(target, [s for s, _ in curve], [b for _, b in curve])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--box", type=int, default=2048)
    parser.add_argument("--limit", type=int, help="only the first N photos")
    parser.add_argument(
        "--only", help="only variants whose name holds one of these (comma-separated)"
    )
    args = parser.parse_args()
    quiet_encoders()
    shots = load(args.corpus, args.box, args.limit)
    if not shots:
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    crf = int(CODECS["av1"].intra_options(resolve_quality("av1", "standard"))["crf"])
    # tune=4 (MS-SSIM) sets sharpness and the quantisation matrices itself: those are measured
    # on top of tune=1 (PSNR), which leaves them alone.
    variants = [
        Variant("baseline (our intra encoder)", {}),
        Variant("tune=0 (VQ)", {"tune": "0"}),
        Variant("tune=1 (PSNR)", {"tune": "1"}),
        Variant("tune=2 (SSIM)", {"tune": "2"}),
        Variant("tune=3 (IQ)", {"tune": "3"}),
        Variant("tune=1:sharpness=2", {"tune": "1", "sharpness": "2"}),
        Variant("tune=1:enable-qm=1", {"tune": "1", "enable-qm": "1"}),
        Variant("tune=1:enable-qm=1:qm-min=0", {"tune": "1", "enable-qm": "1", "qm-min": "0"}),
        Variant("ac-bias=1.0", {"ac-bias": "1.0"}),
        Variant("8-bit", {}, pix_fmt="yuv420p"),
        Variant("preset 10", {"preset": "10"}),
        Variant("preset 8", {"preset": "8"}),
        Variant("preset 6", {"preset": "6"}),
        Variant("no black bars (the content coded alone)", {}, placing="alone"),
        Variant("centred, off the block grid, bars from the rect's edge", {}, placing="centred"),
    ]
    print(f"{len(shots)} photos, box {args.box}, baseline crf {crf}", flush=True)
    base = variants[0]
    target = measure(shots, base, crf)
    measure(shots, base, crf - STEP)
    measure(shots, base, crf + STEP)
    for variant in variants[1:]:
        if args.only and not any(part in variant.name for part in args.only.split(",")):
            continue
        bracket(shots, variant, crf, target)
    avif = Variant(AVIF, {})
    avif.points = avif_points(shots, [40, 55, 70, 85])
    baseline_bytes = base.points[0][1]
    print(f"\nAt the baseline's mean SSIM {target:.4f} (crf {crf}):\n")
    print("| variant | bytes vs baseline | CPU ms/frame |")
    print("|---|---:|---:|")
    for variant in [*variants, avif]:
        if not variant.points:
            continue
        at = bytes_at(variant.points, target)
        versus = f"{100 * (at / baseline_bytes - 1):+.1f}%" if at else "out of range"
        ms = np.mean([m for _, _, m in variant.points])
        print(f"| {variant.name} | {versus} | {ms:.0f} |")


if __name__ == "__main__":
    main()
