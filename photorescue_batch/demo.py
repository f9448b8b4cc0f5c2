"""Make photo-like test pictures with real EXIF, and the built-in demo library.

Real photos compress very differently from flat gradients, so these have smooth light, edges,
texture and sensor noise. The tests and `make demo` both use them.
"""

from __future__ import annotations

import argparse
import struct
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

EXIF_IFD = 0x8769
TAG_MAKE, TAG_MODEL, TAG_ORIENTATION, TAG_DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
TAG_DATETIME_ORIGINAL = 0x9003


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """An RGB picture with a sky-like gradient, blurred shapes, edges, texture and noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(30, 225, size=(4, 5, 3)).astype(np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.integers(0, width), rng.integers(0, height)
        r = int(rng.integers(min(width, height) // 20, min(width, height) // 4))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(radius=max(1, width // 400)))
    pixels = np.asarray(image, dtype=np.int16)
    grain = rng.normal(0, 2, size=(height // 3 + 1, width // 3 + 1)).astype(np.float32)
    texture = np.asarray(
        Image.fromarray(grain, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    )[..., None]
    noise = rng.normal(0, 1.2, size=pixels.shape)
    return Image.fromarray(np.clip(pixels + texture + noise, 0, 255).astype(np.uint8))


def camera_exif(
    taken: datetime | None, make: str = "Canon", model: str = "EOS 80D", orientation: int = 1
) -> Image.Exif:
    """EXIF as a camera writes it: make, model, orientation and the capture time, if any."""
    exif = Image.Exif()
    exif[TAG_MAKE] = make
    exif[TAG_MODEL] = model
    exif[TAG_ORIENTATION] = orientation
    if taken is not None:
        stamp = taken.strftime("%Y:%m:%d %H:%M:%S")
        exif[TAG_DATETIME] = stamp
        exif.get_ifd(EXIF_IFD)[TAG_DATETIME_ORIGINAL] = stamp
    return exif


def save_photo(
    path: Path,
    upright: Image.Image,
    taken: datetime | None,
    orientation: int = 1,
    quality: int = 90,
    **exif_fields: str,
) -> Path:
    """Save `upright` the way a camera would store it for `orientation`, with its EXIF."""
    stored = upright.transpose(_STORE[orientation]) if orientation in _STORE else upright
    exif = camera_exif(taken, orientation=orientation, **exif_fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        stored.save(path, "JPEG", quality=quality, exif=exif)
    elif suffix in (".heic", ".heif"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        stored.save(path, "HEIF", quality=quality, exif=exif.tobytes())
    else:
        stored.save(path, exif=exif)
    return path


# How a camera stores an upright picture for each orientation (the inverse of displaying it).
_STORE = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


# Wide-gamut RGB spaces by their primaries and white (CIE xy) and tone curve (a gamma).
RGB_SPACES = {
    "Display P3": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060), (0.3127, 0.3290), 2.2),
    "Adobe RGB (1998)": ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06), (0.3127, 0.3290), 563 / 256),
    "ProPhoto RGB": ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001), (0.3457, 0.3585), 1.8),
}
_D50 = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)


def matrix_profile(name: str) -> bytes:
    """An ICC v2 display profile (matrix and tone curves) for one of RGB_SPACES, as cameras,
    phones and editors embed them: what a photo needs to be shown in its own colours."""
    red, green, blue, white, gamma = RGB_SPACES[name]

    def xyz(xy: tuple[float, float]) -> np.ndarray:
        x, y = xy
        return np.array([x / y, 1.0, (1 - x - y) / y])

    primaries = np.column_stack([xyz(red), xyz(green), xyz(blue)])
    to_xyz = primaries * np.linalg.solve(primaries, xyz(white))  # RGB -> XYZ at its own white
    cone = _BRADFORD @ xyz(white), _BRADFORD @ _D50
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone[1] / cone[0]) @ _BRADFORD
    colorants = adapt @ to_xyz  # as the profile connection space (D50) sees them

    def xyz_tag(values) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    text = name.encode("ascii")
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text
         + b"\0" + bytes(8) + bytes(3) + bytes(67)),
        (b"cprt", b"text\0\0\0\0" + b"made by photorescue for its tests\0"),
        (b"wtpt", xyz_tag(_D50)),
        (b"rXYZ", xyz_tag(colorants[:, 0])),
        (b"gXYZ", xyz_tag(colorants[:, 1])),
        (b"bXYZ", xyz_tag(colorants[:, 2])),
        (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
    ]  # fmt: skip
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
        + bytes(12) + b"acsp" + bytes(24) + struct.pack(">I", 0) + xyz_tag(_D50)[8:]
        + bytes(48)
    )  # fmt: skip
    return header + struct.pack(">I", len(tags)) + table + data


def make_demo_library(root: Path, scale: float = 1.0) -> Path:
    """A few folders as a family library has them: landscape and sideways portrait JPEGs,
    a burst, a PNG screenshot and a phone's HEIC."""
    w, h = int(3000 * scale), int(2000 * scale)
    start = datetime(2019, 7, 14, 9, 30)
    seed = 0

    def shoot(folder: str, name: str, upright: Image.Image, minutes: int, **kw) -> None:
        save_photo(root / folder / name, upright, start + timedelta(minutes=minutes), **kw)

    for i in range(4):
        seed += 1
        shoot("Family/2019 Summer", f"IMG_{100 + i:04d}.JPG", photo_like(w, h, seed), 10 * i)
    shoot("Family/2019 Summer", "IMG_0200.JPG", photo_like(h, w, 99), 45, orientation=6)
    burst = photo_like(w + 40, h, 7)
    for i in range(3):
        shot = burst.crop((i * 12, 0, i * 12 + w, h)).point(lambda v, i=i: min(255, v + 4 * i))
        shoot("Family/2019 Summer", f"IMG_{300 + i:04d}.JPG", shot, 60)
    for i in range(3):
        seed += 1
        shoot("Trips/Alps", f"DSC{i:05d}.jpg", photo_like(w, h, seed), 600 + i, make="NIKON")
    shoot("Trips/Alps", "summit portrait.jpeg", photo_like(h, w, 55), 700, orientation=6)
    shoot("Trips/Alps", "route map.png", photo_like(w // 2, h // 2, 77), 705)
    shoot(
        "Phone",
        "IMG_4001.HEIC",
        photo_like(w // 2, h // 2, 88),
        900,
        make="Apple",
        model="iPhone 12",
    )
    shoot(
        "Phone",
        "IMG_4002.jpg",
        photo_like(h // 2, w // 2, 89),
        905,
        make="Apple",
        model="iPhone 12",
        orientation=6,
    )
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the built-in demo photo library.")
    parser.add_argument("out", type=Path, help="folder to create the library in")
    parser.add_argument("--scale", type=float, default=1.0, help="photo size (1.0 = 6 MP)")
    args = parser.parse_args()
    make_demo_library(args.out, args.scale)
    count = sum(1 for p in args.out.rglob("*") if p.is_file())
    print(f"demo library: {count} photos in {args.out}")


if __name__ == "__main__":
    main()
