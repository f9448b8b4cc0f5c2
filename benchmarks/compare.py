"""Compression: photorescue's presets against the original recipe, per-image AVIF and JPEG XL.

    python benchmarks/compare.py CORPUS [--box 2048] [--quick] [--out benchmarks/results]

Every method is run in this one invocation on the same photos and judged against the same
reference: a LANCZOS downscale of the upright original to the box, compared inside the rect.
The ratio is the originals' bytes over everything the method writes (videos, sidecars, XML).
Prints a table, and saves it with a plot of ratio against mean SSIM under --out.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from PIL import Image, ImageOps

from photorescue_batch.catalog import load_folders
from photorescue_batch.decode import iter_frames
from photorescue_batch.layout import KEPT, POINTER, SIDECAR
from photorescue_batch.metadata import read_metadata
from photorescue_batch.photo import fit
from photorescue_batch.report import REPORT_NAME
from photorescue_batch.similarity import psnr, ssim

RECIPE_CONVERT = "/usr/bin/convert"
DEFAULT = "photorescue av1 (scene cuts)"  # ImageMagick itself, not a stand-in earlier on PATH


@dataclass(frozen=True)
class Photo:
    path: Path
    relative: str
    reference: np.ndarray  # the upright original, LANCZOS-shrunk to its rect


@dataclass(frozen=True)
class Row:
    method: str
    setting: str
    ratio: float
    mean: float
    minimum: float
    p5: float
    psnr: float
    ms: float
    sidecar_share: float | None = None  # of everything written, for photorescue's runs


def load_photos(corpus: Path, box: int) -> list[Photo]:
    photos = []
    for path in sorted(corpus.rglob("*.jpg")):
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image).convert("RGB")
        rect = fit(*upright.size, box)
        reference = np.asarray(upright.resize((rect.w, rect.h), Image.Resampling.LANCZOS))
        photos.append(Photo(path, path.relative_to(corpus).as_posix(), reference))
    return photos


def score(photos: list[Photo], decoded: dict[str, np.ndarray]) -> tuple[float, ...]:
    pairs = [(decoded[p.relative], p.reference) for p in photos]
    ssims = Parallel(n_jobs=2)(delayed(ssim)(a, b) for a, b in pairs)
    psnrs = [psnr(a, b) for a, b in pairs]
    return (
        float(np.mean(ssims)),
        float(np.min(ssims)),
        float(np.percentile(ssims, 5)),
        float(np.mean(psnrs)),
    )


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_photorescue(corpus: Path, work: Path, box: int, codec: str, quality: str, keyframes: str):
    dest = work / f"pr-{codec}-{quality}-{keyframes}"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "photorescue_batch", "backup", str(corpus), str(dest),
         "--box", str(box), "--codec", codec, "--quality", quality, "--keyframes", keyframes],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    decoded = {}
    for folder in load_folders(dest, print):  # a folder of no photos has no segment
        for segment in folder.record.segments:
            photos = sorted(
                (p for p in folder.record.photos if p.segment == segment.id), key=lambda p: p.index
            )
            for photo, frame in zip(photos, iter_frames(folder.video(segment)), strict=True):
                r = photo.rect
                relative = f"{folder.record.folder}/{photo.name}".lstrip("/")
                decoded[relative] = frame[r.y : r.y + r.h, r.x : r.x + r.w]
    # What holds the photos: videos and sidecars (not the run's report, nor non-photo files
    # kept beside them, which no other method stores either).
    written = [p for p in dest.rglob("*") if p.is_file() and p.name != REPORT_NAME]
    written = [p for p in written if not any(part.endswith(KEPT) for part in p.parts)]
    total = sum(p.stat().st_size for p in written)
    sidecars = sum(p.stat().st_size for p in written if p.name.endswith((SIDECAR, POINTER)))
    return total, seconds, decoded, sidecars / total


def run_recipe(corpus: Path, work: Path, box: int, photos: list[Photo]):
    """The original shell recipe, for real: ImageMagick -> MJPEG pipe -> ffmpeg ProRes; exiftool."""
    out = work / "recipe"
    out.mkdir()
    by_folder: dict[Path, list[Photo]] = {}
    for p in photos:
        by_folder.setdefault(p.path.parent, []).append(p)
    decoded = {}
    started = time.perf_counter()
    for folder, members in by_folder.items():
        video = out / f"{folder.name}.mov"
        ffmpeg = subprocess.Popen(
            ["ffmpeg", "-loglevel", "error", "-f", "image2pipe", "-c:v", "mjpeg", "-r", "1",
             "-i", "-", "-vcodec", "prores_ks", "-qscale", "16", str(video)],
            stdin=subprocess.PIPE,
        )  # fmt: skip
        for p in members:
            frame = subprocess.run(
                [RECIPE_CONVERT, str(p.path), "-filter", "cubic", "-resize", f"{box}x{box}>",
                 "-gravity", "center", "-background", "black", "-extent", f"{box}x{box}", "jpg:-"],
                check=True, capture_output=True,
            ).stdout  # fmt: skip
            ffmpeg.stdin.write(frame)
        ffmpeg.stdin.close()
        ffmpeg.wait()
        with open(out / f"{folder.name}.xml", "wb") as xml:
            subprocess.run(["exiftool", "-X", *[str(p.path) for p in members]], stdout=xml)
        for p, frame in zip(members, iter_frames(video), strict=True):
            h, w = p.reference.shape[:2]
            x, y = (box - w + 1) // 2, (box - h + 1) // 2  # -gravity center rounds halves up
            decoded[p.relative] = frame[y : y + h, x : x + w]
    return dir_bytes(out), time.perf_counter() - started, decoded


def run_avif(photos: list[Photo], quality: int):
    """Per-image AVIF (libavif through Pillow) of the same content, with the EXIF kept."""
    import pillow_avif  # noqa: F401  (registers AVIF with Pillow; from the bench extra)

    total, decoded, started = 0, {}, time.perf_counter()
    for p in photos:
        buffer = io.BytesIO()
        exif = read_metadata(p.path).exif
        Image.fromarray(p.reference).save(buffer, "AVIF", quality=quality, speed=6,
                                          exif=b"Exif\x00\x00" + exif if exif else b"")  # fmt: skip
        total += buffer.tell()
        buffer.seek(0)
        decoded[p.relative] = np.asarray(Image.open(buffer).convert("RGB"))
    return total, time.perf_counter() - started, decoded


def run_jxl(photos: list[Photo], work: Path, distance: float):
    """Per-image JPEG XL with cjxl (EXIF not counted: cjxl takes it from JPEG input only)."""
    total, decoded, started = 0, {}, time.perf_counter()
    for n, p in enumerate(photos):
        png, jxl, back = work / f"{n}.png", work / f"{n}.jxl", work / f"{n}.back.png"
        Image.fromarray(p.reference).save(png, compress_level=1)
        subprocess.run(["cjxl", "-d", str(distance), "-e", "7", "--quiet", str(png), str(jxl)],
                       check=True, capture_output=True)  # fmt: skip
        total += jxl.stat().st_size
        subprocess.run(["djxl", str(jxl), str(back)], check=True, capture_output=True)
        decoded[p.relative] = np.asarray(Image.open(back).convert("RGB"))
    return total, time.perf_counter() - started, decoded


def ratio_at(rows: list[Row], method: str, mean: float) -> float | None:
    """A method's ratio at a given mean SSIM, interpolated (log-linearly) along its curve."""
    points = sorted((r.mean, np.log(r.ratio)) for r in rows if r.method == method)
    if len(points) < 2 or not points[0][0] <= mean <= points[-1][0]:
        return None
    return float(np.exp(np.interp(mean, [p[0] for p in points], [p[1] for p in points])))


def verdict(rows: list[Row], recipe: Row | None) -> list[str]:
    """The default against the recipe, and against per-image AVIF at equal mean SSIM."""
    default = next((r for r in rows if r.method == DEFAULT and r.setting == "standard"), None)
    if default is None:
        return []
    out = []
    if recipe:
        out.append(
            f"Default (av1 standard) vs the recipe: {default.ratio / recipe.ratio:.1f}x the ratio; "
            f"mean SSIM {default.mean:.4f} vs {recipe.mean:.4f}, "
            f"min {default.minimum:.4f} vs {recipe.minimum:.4f}."
        )
    for other in ("per-image AVIF (Pillow, speed 6)", "photorescue av1 intra-only"):
        theirs = ratio_at(rows, other, default.mean)
        if theirs:
            out.append(
                f"At the default's mean SSIM {default.mean:.4f}, {other} reaches a ratio of "
                f"{theirs:.1f}: the default's {default.ratio:.1f} is "
                f"{100 * (default.ratio / theirs - 1):+.0f}%."
            )
    return out


def plot(rows: list[Row], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot)")
        return
    fig, ax = plt.subplots(figsize=(9, 6))
    for method in dict.fromkeys(r.method for r in rows):
        points = sorted((r.mean, r.ratio, r.setting) for r in rows if r.method == method)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=method)
        for x, y, setting in points:
            ax.annotate(setting, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("mean content SSIM (inside the rect, vs LANCZOS downscale of the original)")
    ax.set_ylabel("compression ratio (original bytes / bytes written)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--box", type=int, default=2048)
    parser.add_argument("--quick", action="store_true", help="fewer points per curve")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--only", help="only methods whose name holds one of these (comma-separated)"
    )
    args = parser.parse_args()
    photos = load_photos(args.corpus, args.box)
    if not photos:
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    original = sum(p.path.stat().st_size for p in photos)
    print(f"{len(photos)} photos, {original / 1e6:.1f} MB, box {args.box}", flush=True)

    av1_levels = ["archive", "standard", "tiny"]
    if not args.quick:
        av1_levels = ["26", "archive", "34", "standard", "40", "tiny", "50"]
    methods: list[tuple[str, str, object]] = []
    if Path(RECIPE_CONVERT).exists() and shutil.which("ffmpeg") and shutil.which("exiftool"):
        methods.append(("recipe (convert cubic + prores_ks q16 + exiftool -X)", "q16", "recipe"))
    else:
        print("(ImageMagick, ffmpeg or exiftool missing: `make bench` installs them; no recipe)")
    for level in av1_levels:
        methods.append((DEFAULT, level, ("av1", level, "scene")))
    for level in ["archive", "standard", "tiny"]:
        methods.append(("photorescue av1 intra-only", level, ("av1", level, "intra")))
        methods.append(("photorescue av1 encoder GOP", level, ("av1", level, "encoder")))
        methods.append(("photorescue hevc", level, ("hevc", level, "scene")))
        methods.append(("photorescue h264", level, ("h264", level, "scene")))
    methods.append(("photorescue prores", "standard", ("prores", "standard", "scene")))
    for q in [40, 50, 60, 70, 80] if not args.quick else [50, 70]:
        methods.append(("per-image AVIF (Pillow, speed 6)", f"q{q}", ("avif", q)))
    if shutil.which("cjxl"):
        for d in [1.0, 2.0, 3.0] if not args.quick else [2.0]:
            methods.append(("per-image JPEG XL (cjxl -e 7)", f"d{d:g}", ("jxl", d)))

    if args.only:
        wanted = args.only.split(",")
        methods = [m for m in methods if any(part in m[0] for part in wanted)]
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="photorescue-compare-"))
    try:
        for method, setting, how in methods:
            share = None
            if how == "recipe":
                written, seconds, decoded = run_recipe(args.corpus, work, args.box, photos)
            elif how[0] == "avif":
                written, seconds, decoded = run_avif(photos, how[1])
            elif how[0] == "jxl":
                written, seconds, decoded = run_jxl(photos, work, how[1])
            else:
                written, seconds, decoded, share = run_photorescue(
                    args.corpus, work, args.box, *how
                )
            mean, minimum, p5, mean_psnr = score(photos, decoded)
            row = Row(method, setting, original / written, mean, minimum, p5, mean_psnr,
                      1000 * seconds / len(photos), share)  # fmt: skip
            rows.append(row)
            print(
                f"  {method} {setting}: ratio {row.ratio:.1f}, SSIM {mean:.4f} / min {minimum:.4f}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    recipe = next((r for r in rows if r.setting == "q16" and r.method.startswith("recipe")), None)
    lines = [
        f"{len(photos)} photos ({original / 1e6:.1f} MB) from {args.corpus}, box {args.box}",
        "",
        "| method | setting | ratio | x recipe | mean SSIM | min SSIM | p5 SSIM | PSNR dB "
        "| ms/photo | sidecars |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        versus = f"{r.ratio / recipe.ratio:.1f}" if recipe else "-"
        lines.append(
            f"| {r.method} | {r.setting} | {r.ratio:.1f} | {versus} | {r.mean:.4f} | "
            f"{r.minimum:.4f} | {r.p5:.4f} | {r.psnr:.2f} | {r.ms:.0f} | "
            f"{f'{100 * r.sidecar_share:.1f}%' if r.sidecar_share is not None else '-'} |"
        )
    lines += ["", *verdict(rows, recipe)]
    table = "\n".join(lines)
    print("\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare.md").write_text(table + "\n")
    plot(rows, args.out / "compare.png")
    print(f"\nsaved {args.out / 'compare.md'} and {args.out / 'compare.png'}")


if __name__ == "__main__":
    main()
