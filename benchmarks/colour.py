"""Colour error of restored photos against the original rendered to sRGB, per profile.

    python benchmarks/colour.py CORPUS [--photos 16] [--box 1024]

Takes corpus photos (sRGB), saves each in every profile as a phone, camera or print workflow
would (the same colours as numbers of that space, with the profile embedded): sRGB, Display P3,
Adobe RGB and ProPhoto RGB (matrix profiles built from their primaries) and CMYK (ghostscript's
default_cmyk.icc, from Debian's libgs-common). Backs them all up with `photorescue backup`,
restores them, and prints per profile the mean difference in levels (0-255, over R, G and B) of
the restored photos against each original rendered to sRGB through its own profile:

- before: the photo's numbers taken as sRGB, as photorescue 0.2 and any viewer without colour
  management did (no encoding loss counted: this is the colour error alone);
- after: the restored JPEG of this photorescue (encoding loss included; the sRGB row is that
  loss alone, the floor for the others).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

from photorescue_batch.demo import RGB_SPACES, matrix_profile

CMYK = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def profiles() -> dict[str, bytes]:
    found = {"sRGB": SRGB.tobytes(), **{n: matrix_profile(n) for n in RGB_SPACES}}
    if CMYK.exists():
        found["CMYK (ghostscript)"] = CMYK.read_bytes()
    return found


def as_numbers(picture: Image.Image, icc: bytes) -> Image.Image:
    """The picture's colours as numbers of the profile's space."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    mode = "CMYK" if icc[16:20] == b"CMYK" else "RGB"
    return ImageCms.profileToProfile(picture, SRGB, profile, outputMode=mode)


def rendered(path: Path) -> Image.Image:
    with Image.open(path) as image:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        return ImageCms.profileToProfile(image, profile, SRGB, outputMode="RGB")


def error(pixels: Image.Image, reference: Image.Image) -> float:
    shrunk = reference.resize(pixels.size, Image.Resampling.LANCZOS)
    a = np.asarray(pixels.convert("RGB"), dtype=np.float32)
    return float(np.abs(a - np.asarray(shrunk, dtype=np.float32)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--box", type=int, default=1024)
    args = parser.parse_args()
    corpus = sorted(args.corpus.rglob("*.jpg"))[: args.photos]
    if not corpus:
        sys.exit(f"{args.corpus}: no .jpg photos (fetch them with benchmarks/fetch_corpus.sh)")
    spaces = profiles()
    with tempfile.TemporaryDirectory(prefix="photorescue-colour-") as tmp:
        library, dest, out = Path(tmp, "library"), Path(tmp, "backup"), Path(tmp, "restored")
        for name, icc in spaces.items():
            folder = library / name
            folder.mkdir(parents=True)
            for n, source in enumerate(corpus):
                with Image.open(source) as photo:
                    picture = ImageOps.exif_transpose(photo).convert("RGB")
                as_numbers(picture, icc).save(folder / f"{n:03}.jpg", quality=95, icc_profile=icc)
        for command in (["backup", library, dest, "--box", args.box], ["restore", dest, out]):
            run = [sys.executable, "-m", "photorescue_batch", *map(str, command)]
            subprocess.run(run, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"{len(corpus)} corpus photos per profile, box {args.box}; mean error in levels")
        print(f"{'profile':24}{'before':>10}{'after':>10}{'after max':>11}")
        for name in spaces:
            before, after = [], []
            for original in sorted((library / name).iterdir()):
                reference = rendered(original)
                with Image.open(original) as numbers:
                    before.append(error(numbers.convert("RGB"), reference))
                with Image.open(out / name / original.name) as restored:
                    after.append(error(restored, reference))
            print(f"{name:24}{np.mean(before):10.1f}{np.mean(after):10.1f}{max(after):11.1f}")


if __name__ == "__main__":
    main()
