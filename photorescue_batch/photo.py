"""Open any supported photo, stand it upright, shrink it into the box and letterbox it."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

try:  # HEIC/HEIF support; without it those photos are kept as originals
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pillow_heif = None

# A real 200 MP photo must go through; a file that claims more pixels than this is refused
# as a decompression bomb rather than allowed to take the machine's memory.
MAX_PIXELS = 400_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow itself refuses at twice this; we refuse above it
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

SIGNATURE_SIZE = 32
RESAMPLE = Image.Resampling.LANCZOS


class UnreadablePhoto(Exception):
    """A photo that cannot be turned into a frame; its original is kept instead."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[Path, str]]:
        return (type(self), (self.path, self.reason))  # it travels back from worker processes


@dataclass(frozen=True)
class Placement:
    """Where the upright photo sits in the N x N frame."""

    x: int
    y: int
    w: int
    h: int

    def __str__(self) -> str:
        return f"{self.x} {self.y} {self.w} {self.h}"

    @classmethod
    def parse(cls, text: str) -> Placement:
        x, y, w, h = (int(v) for v in text.split())
        return cls(x, y, w, h)


@dataclass(frozen=True)
class FittedPhoto:
    """One photo's contribution to the video: its pixels inside the rect, and a scene signature.

    Only the rect's pixels travel back from the worker; the bars are added by the encoder side.
    """

    placement: Placement
    content: bytes  # RGB, placement.w x placement.h
    signature: np.ndarray  # SIGNATURE_SIZE^2 luma of the whole letterboxed frame
    sha256: str
    size: tuple[int, int]  # the original's pixel size as stored (before orientation)

    def letterboxed(self, box: int) -> np.ndarray:
        """The full N x N RGB frame: black, with the photo in its rect."""
        canvas = np.zeros((box, box, 3), dtype=np.uint8)
        p = self.placement
        canvas[p.y : p.y + p.h, p.x : p.x + p.w] = np.frombuffer(
            self.content, dtype=np.uint8
        ).reshape(p.h, p.w, 3)
        return canvas


def fit(width: int, height: int, box: int) -> Placement:
    """Shrink (never enlarge) width x height to fit the box, centred."""
    scale = min(1.0, box / width, box / height)
    w = max(1, round(width * scale))
    h = max(1, round(height * scale))
    return Placement((box - w) // 2, (box - h) // 2, w, h)


def upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The pixel size after EXIF orientation: 5-8 swap width and height."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def open_photo(data: bytes, path: Path) -> Image.Image:
    """Open a photo from its bytes, refusing bombs and files that are not images."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise UnreadablePhoto(path, f"refused as a decompression bomb: {error}") from error
    except Exception as error:  # Pillow raises many types for bad files
        raise UnreadablePhoto(path, f"not a readable image: {error}") from error
    if image.width * image.height > MAX_PIXELS:
        raise UnreadablePhoto(
            path,
            f"refused as a decompression bomb: {image.width}x{image.height} pixels "
            f"is more than {MAX_PIXELS // 1_000_000} MP",
        )
    return image


def decode_draft(image: Image.Image, target: tuple[int, int], path: Path) -> Image.Image:
    """Decode at the smallest JPEG DCT scale that still covers `target` (stored orientation)."""
    if image.format == "JPEG":
        image.draft("RGB", target)
    try:
        image.load()
    except Exception as error:
        raise UnreadablePhoto(path, f"cannot decode: {error}") from error
    return _to_rgb(image)


def shrink_upright(image: Image.Image, orientation: int, target: Placement) -> Image.Image:
    """Shrink to the rect's size, then stand upright: turning the small picture is cheaper."""
    stored = upright_size((target.w, target.h), orientation)
    if image.size != stored:
        image = image.resize(stored, RESAMPLE)
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten any mode (CMYK, 16-bit, palette with transparency, greyscale) onto black RGB."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.uint32)
        peak = 65535 if image.mode.startswith("I;16") or array.max() > 255 else 255
        return Image.fromarray((array * 255 // peak).astype(np.uint8)).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size)
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")  # CMYK (Pillow un-inverts Adobe JPEGs), L, YCbCr, ...


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def signature(content: Image.Image, placement: Placement, box: int) -> np.ndarray:
    """A small luma thumbnail of the whole letterboxed frame, for scene-cut decisions."""
    scale = SIGNATURE_SIZE / box
    thumb = content.convert("L").resize(
        (max(1, round(placement.w * scale)), max(1, round(placement.h * scale))),
        Image.Resampling.BOX,
    )
    canvas = Image.new("L", (SIGNATURE_SIZE, SIGNATURE_SIZE))
    canvas.paste(thumb, (round(placement.x * scale), round(placement.y * scale)))
    return np.asarray(canvas, dtype=np.float32)


def fit_photo(path: Path, orientation: int, box: int) -> FittedPhoto:
    """Read one photo and turn it into its letterboxed frame content.

    Runs in a worker process: everything heavy for one photo happens here.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadablePhoto(path, f"cannot read: {error.strerror or error}") from error
    if not data:
        raise UnreadablePhoto(path, "empty file (0 bytes)")
    image = open_photo(data, path)
    stored_size = image.size
    placement = fit(*upright_size(stored_size, orientation), box)
    decoded = decode_draft(image, upright_size((placement.w, placement.h), orientation), path)
    upright = shrink_upright(decoded, orientation, placement)
    return FittedPhoto(
        placement=placement,
        content=upright.tobytes(),
        signature=signature(upright, placement, box),
        sha256=hashlib.sha256(data).hexdigest(),
        size=stored_size,
    )
