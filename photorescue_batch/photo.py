"""Open any supported photo, stand it upright, shrink it into the box and letterbox it.

Every image of a file that holds several (MPO, multi-page TIFF, HEIC, animated WebP and GIF)
is fitted; images that are not photos (thumbnails, depth and gain maps) are named instead. RAW
photos are read with LibRaw: the camera's embedded preview where it covers the box, else the
sensor data demosaiced (at half size where that still covers the box).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import rawpy
from PIL import Image

from photorescue_batch.checksum import sha256_file
from photorescue_batch.colour import to_srgb

T = TypeVar("T")

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
ALIGN = 8  # pixels: the smallest block of AV1, HEVC and H.264 transforms
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
    sha256: str  # of the whole file
    size: tuple[int, int]  # the original's pixel size as stored (before orientation)
    image: int = 1  # which image of the file, counted from 1
    flattened: str | None = None  # the background its transparency was flattened onto
    converted_from: str | None = None  # the colour profile it was converted to sRGB from

    def letterboxed(self, box: int) -> np.ndarray:
        """The full N x N RGB frame (see `letterbox`)."""
        p = self.placement
        return letterbox(np.frombuffer(self.content, dtype=np.uint8).reshape(p.h, p.w, 3), p, box)


def letterbox(content: np.ndarray, p: Placement, box: int) -> np.ndarray:
    """An N x N RGB frame: black, with `content` in its rect, and the rect's last column and
    row repeated out to the next multiple of ALIGN (see `fit`)."""
    canvas = np.zeros((box, box, 3), dtype=np.uint8)
    right, bottom = min(box, _aligned(p.x + p.w)), min(box, _aligned(p.y + p.h))
    canvas[p.y : p.y + p.h, p.x : p.x + p.w] = content
    canvas[p.y : p.y + p.h, p.x + p.w : right] = canvas[p.y : p.y + p.h, p.x + p.w - 1 : p.x + p.w]
    canvas[p.y + p.h : bottom, p.x : right] = canvas[p.y + p.h - 1 : p.y + p.h, p.x : right]
    return canvas


def fit(width: int, height: int, box: int) -> Placement:
    """Shrink (never enlarge) width x height to fit the box, centred to within ALIGN pixels.

    The rect starts on the encoder's block grid, and the frame repeats its edges out to the
    grid: no block straddles photo and bar, which costs 4% of the bytes at equal SSIM
    otherwise (benchmarks/encoder_options.py).
    """
    scale = min(1.0, box / width, box / height)
    w = max(1, round(width * scale))
    h = max(1, round(height * scale))
    return Placement((box - w) // 2 // ALIGN * ALIGN, (box - h) // 2 // ALIGN * ALIGN, w, h)


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The pixel size after EXIF orientation: 5-8 swap width and height."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def open_photo(path: Path) -> Image.Image:
    """Open a photo (lazily: nothing is decoded yet), refusing bombs and files that are not
    images."""
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as error:
        raise UnreadablePhoto(path, f"refused as a decompression bomb: {error}") from error
    except OSError as error:
        if not isinstance(error, Image.UnidentifiedImageError):
            raise UnreadablePhoto(path, f"cannot read: {error.strerror or error}") from error
        raise UnreadablePhoto(path, f"not a readable image: {error}") from error
    except Exception as error:  # Pillow raises many types for bad files
        raise UnreadablePhoto(path, f"not a readable image: {error}") from error
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise UnreadablePhoto(
            path,
            f"refused as a decompression bomb: {image.width}x{image.height} pixels "
            f"is more than {MAX_PIXELS // 1_000_000} MP",
        )
    return image


@dataclass(frozen=True)
class FittedFile:
    """Every photo a file holds, fitted, and the images of it that are not photos, with why."""

    images: tuple[FittedPhoto, ...]
    auxiliary: tuple[tuple[str, str], ...]  # ('#2', 'thumbnail'), ('#depth-1', 'depth map')
    sha256: str
    trailer: tuple[int, str] | None = None  # where the bytes after the image start, and what
    read_as: tuple[int, int] | None = None  # (size, mtime_ns) of the file these came from


def decode_cost(path: Path, raw: bool, box: int) -> int:
    """About the most memory `fit_file` takes for this file, in bytes, from its header alone:
    twice its largest decode (decoded, then converted or shrunk). A JPEG counts at the DCT
    scale it will decode at; a RAW at four times its size (LibRaw unpacks the mosaic to 16
    bits, then demosaics). What cannot be opened counts as its bytes: its decode fails early."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    if raw:
        return 4 * size
    try:
        with Image.open(path) as image:
            if image.format in ("JPEG", "MPO"):
                target = fit(*image.size, box)
                image.draft("RGB", (target.w, target.h))
            width, height = image.size
            sample = 2 if image.mode in ("I;16", "I;16B", "RGB;16", "RGBA;16") else 1
            sample = 4 if image.mode in ("I", "F") else sample
            bands = max(3, len(image.getbands()))
    except Exception:  # Pillow raises many types for bad files; fit_file says what is wrong
        return size
    return 2 * width * height * bands * sample


def decode_draft(image: Image.Image, target: tuple[int, int], path: Path) -> Image.Image:
    """Decode at the smallest JPEG DCT scale that still covers `target` (stored orientation)."""
    return _decode(image, target, path).picture


@dataclass(frozen=True)
class Decoded:
    """A decoded picture in sRGB, and what it took to get there."""

    picture: Image.Image
    flattened: str | None = None  # the background its transparency went onto
    converted_from: str | None = None  # the profile its colours were converted from


def _decode(image: Image.Image, target: tuple[int, int], path: Path) -> Decoded:
    """The decoded picture, converted to sRGB from its own profile, transparency flattened."""
    if image.format in ("JPEG", "MPO"):
        image.draft("RGB", target)
    try:
        image.load()
    except Exception as error:
        raise UnreadablePhoto(path, f"cannot decode: {error}") from error
    managed, converted_from = to_srgb(image, image.info.get("icc_profile"))
    picture, flattened = _flatten(managed)
    return Decoded(picture, flattened, converted_from)


def shrink_upright(image: Image.Image, orientation: int, target: Placement) -> Image.Image:
    """Shrink to the rect's size, then stand upright: turning the small picture is cheaper."""
    stored = upright_size((target.w, target.h), orientation)
    if image.size != stored:
        image = image.resize(stored, RESAMPLE)
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    return image


def _flatten(image: Image.Image) -> tuple[Image.Image, str | None]:
    """RGB from any mode (CMYK, 16-bit, palette, greyscale). Real transparency goes onto white
    where what shows through is dark, else onto black, so that a black logo on a transparent
    background stays visible; the background's name comes back with the picture."""
    if image.mode == "RGB":
        return image, None
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.uint32)
        peak = 65535 if image.mode.startswith("I;16") or array.max() > 255 else 255
        return Image.fromarray((array * 255 // peak).astype(np.uint8)).convert("RGB"), None
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBa", "LA", "La", "PA"):
        image = image.convert("RGBA")
    if image.mode != "RGBA":
        return image.convert("RGB"), None  # CMYK (Pillow un-inverts Adobe JPEGs), L, YCbCr, ...
    alpha = image.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return image.convert("RGB"), None
    weights = np.asarray(alpha, dtype=np.float32)
    luma = np.asarray(image.convert("L"), dtype=np.float32)
    dark = float((luma * weights).sum() / max(weights.sum(), 1.0)) < 128
    name, colour = ("white", (255, 255, 255)) if dark else ("black", (0, 0, 0))
    background = Image.new("RGB", image.size, colour)
    background.paste(image.convert("RGB"), mask=alpha)
    return background, name


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
    """A small thumbnail of the whole letterboxed frame in luma and chroma (Y, Cb, Cr), for
    scene-cut decisions: a greyscale or sepia copy differs from its colour original in chroma."""
    scale = SIGNATURE_SIZE / box
    thumb = content.convert("YCbCr").resize(
        (max(1, round(placement.w * scale)), max(1, round(placement.h * scale))),
        Image.Resampling.BOX,
    )
    canvas = Image.new("YCbCr", (SIGNATURE_SIZE, SIGNATURE_SIZE), (0, 128, 128))  # black bars
    canvas.paste(thumb, (round(placement.x * scale), round(placement.y * scale)))
    return np.moveaxis(np.asarray(canvas, dtype=np.float32), -1, 0)


def fit_photo(path: Path, orientation: int, box: int) -> FittedPhoto:
    """The first image of a photo, fitted (see `fit_file`)."""
    return fit_file(path, orientation, box).images[0]


def fit_file(path: Path, orientation: int, box: int, raw: bool = False) -> FittedFile:
    """Read one photo file and turn each image it holds into letterboxed frame content.

    Runs in a worker process: everything heavy for one file happens here. The file is hashed
    as it streams by and decoded from disk, never held whole in memory: a 450 MB scan costs
    its decode, not twice that.
    """
    if raw:  # from memory: given a path, LibRaw prints its own errors on the terminal
        data = _read(path, Path.read_bytes)
        sha256 = hashlib.sha256(data).hexdigest()
        decoded, size = open_raw(data, path, box)
        image = _fit_decoded(size, Decoded(decoded), orientation, box, sha256, 1)
        return FittedFile((image,), (), sha256)
    sha256 = _read(path, sha256_file)
    with open_photo(path) as picture:
        return _fit_images(picture, path, orientation, box, sha256)


def _read(path: Path, how: Callable[[Path], T]) -> T:
    """`how(path)`, with a file that cannot be read or is empty as an UnreadablePhoto."""
    try:
        if not path.stat().st_size:
            raise UnreadablePhoto(path, "empty file (0 bytes)")
        return how(path)
    except OSError as error:
        raise UnreadablePhoto(path, f"cannot read: {error.strerror or error}") from error


def _fit_images(
    picture: Image.Image, path: Path, orientation: int, box: int, sha256: str
) -> FittedFile:
    images, auxiliary = [], []
    for index in range(getattr(picture, "n_frames", 1)):
        if index:
            picture.seek(index)
        what = _auxiliary(picture, index)
        if what:
            auxiliary.append((f"#{index + 1}", what))
            continue
        size = picture.size
        placement = fit(*upright_size(size, orientation), box)
        target = upright_size((placement.w, placement.h), orientation)
        decoded = _decode(picture, target, path)
        images.append(_fit_decoded(size, decoded, orientation, box, sha256, index + 1))
    auxiliary += _heif_auxiliary(picture)
    if not images:
        raise UnreadablePhoto(path, "holds no photo, only " + ", ".join(w for _, w in auxiliary))
    return FittedFile(tuple(images), tuple(auxiliary), sha256)


def _fit_decoded(
    size: tuple[int, int],
    decoded: Decoded,
    orientation: int,
    box: int,
    sha256: str,
    number: int,
) -> FittedPhoto:
    picture = decoded.picture
    placement = fit(*upright_size(picture.size, orientation), box)
    upright = shrink_upright(picture, orientation, placement)
    return FittedPhoto(
        placement=placement,
        content=upright.tobytes(),
        signature=signature(upright, placement, box),
        sha256=sha256,
        size=size,
        image=number,
        flattened=decoded.flattened,
        converted_from=decoded.converted_from,
    )


def open_raw(data: bytes, path: Path, box: int) -> tuple[Image.Image, tuple[int, int]]:
    """A RAW photo as RGB (stored orientation), and its full pixel size.

    The camera's embedded JPEG preview is used where it covers the box (it is the camera's own
    rendering, and fast); else LibRaw demosaics, at half size where that still covers the box.
    """
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            size = (raw.sizes.width, raw.sizes.height)
            need = fit(*size, box)
            preview = _raw_preview(raw)
            if preview is not None and preview.width >= need.w and preview.height >= need.h:
                preview.draft("RGB", (need.w, need.h))
                return _flatten(preview)[0], size
            half = size[0] // 2 >= need.w and size[1] // 2 >= need.h
            rgb = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8, user_flip=0)
    except Exception as error:  # LibRaw raises its own types; a bad preview raises Pillow's
        raise UnreadablePhoto(path, f"LibRaw cannot read it: {error}") from error
    return Image.fromarray(rgb), size


def _raw_preview(raw) -> Image.Image | None:
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        return Image.open(io.BytesIO(thumb.data))
    return Image.fromarray(thumb.data)


def _auxiliary(picture: Image.Image, index: int) -> str | None:
    """What an image of a multi-image file is when it is not a photo, else None."""
    if picture.format == "MPO" and index:
        entries = getattr(picture, "mpinfo", {}).get(0xB002) or []
        kind = entries[index]["Attribute"]["MPType"] if index < len(entries) else ""
        if "Thumbnail" in kind:
            return "thumbnail"
        if kind == "Undefined" and picture.mode == "L":
            return "HDR gain map"  # Ultra HDR and iPhone JPEGs: one channel, no MP type
        return None
    if picture.format == "TIFF" and index and int(picture.tag_v2.get(254, 0)) & 1:
        return "thumbnail (a reduced copy of a page)"
    return None


def _heif_auxiliary(picture: Image.Image) -> list[tuple[str, str]]:
    """A HEIC's auxiliary images: depth maps, HDR gain maps and other maps."""
    found = [
        (f"#depth-{n}", "depth map")
        for n, _ in enumerate(picture.info.get("depth_images") or [], 1)
    ]
    for kind, ids in (picture.info.get("aux") or {}).items():
        found += [(f"#aux-{n}", f"auxiliary image ({kind})") for n in range(1, len(ids) + 1)]
    return found
