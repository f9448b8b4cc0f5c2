"""Colour management: every frame is sRGB, whatever profile its photo was saved in.

The video's colour space is BT.709, whose primaries are sRGB's. A photo saved in another space
(Display P3 from a phone, Adobe RGB or ProPhoto from a camera or an editor, CMYK from a print
workflow, a greyscale profile from a scanner) is converted by LittleCMS through Pillow's ImageCms
from its embedded profile, with the perceptual intent and black point compensation, so that
wide-gamut colours are mapped into sRGB rather than clipped. The profile itself stays in the
sidecar, byte for byte.
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageCms, features

HAVE_LCMS = bool(features.check("littlecms2"))
# Modes a profile can be applied to, and what to convert a picture to first.
_BASE_MODE = {"RGB": "RGB", "RGBA": "RGB", "P": "RGB", "PA": "RGB", "L": "L", "LA": "L",
              "CMYK": "CMYK"}  # fmt: skip


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def srgb_profile() -> bytes:
    """The sRGB profile restored JPEGs carry when their frame was converted into sRGB."""
    return _srgb().tobytes()


def to_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, str | None]:
    """The picture in sRGB (RGB or RGBA), and the description of the profile it came from; the
    picture as it is, and None, when it has no profile, is sRGB already, or the profile cannot
    be used (then its numbers are taken as sRGB, as a browser without colour management does)."""
    if not icc or not HAVE_LCMS or image.mode not in _BASE_MODE:
        return image, None
    mode = _BASE_MODE[image.mode]
    transform, name = _transform(icc, mode)
    if transform is None:
        return image, None
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA", "PA") else None
    try:
        converted = ImageCms.applyTransform(image.convert(mode), transform)
    except (ValueError, ImageCms.PyCMSError):
        return image, None
    if alpha is not None:
        converted.putalpha(alpha)
    return converted, name


@lru_cache(maxsize=32)
def _transform(icc: bytes, mode: str) -> tuple[ImageCms.ImageCmsTransform | None, str | None]:
    """The transform from a profile to sRGB, built once per profile (a phone library embeds the
    same Display P3 profile in every photo), and the profile's name; None for sRGB itself or
    a profile LittleCMS cannot use with this picture."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = ImageCms.getProfileDescription(profile).strip() or "an unnamed profile"
        if "srgb" in name.lower():
            return None, None
        transform = ImageCms.buildTransform(
            profile,
            _srgb(),
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
        )
    except (OSError, ValueError, ImageCms.PyCMSError):
        return None, None
    return transform, name
