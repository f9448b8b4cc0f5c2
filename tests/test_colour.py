"""Colour management: photos in wide-gamut or CMYK profiles come back in their own colours."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import BOX, record_of, run
from photorescue_batch.demo import RGB_SPACES, camera_exif, matrix_profile, photo_like

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def rendered_to_srgb(path: Path) -> Image.Image:
    """What a colour-managed viewer shows of a photo: its pixels through its own profile."""
    with Image.open(path) as image:
        icc = image.info["icc_profile"]
        return ImageCms.profileToProfile(
            image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), SRGB, outputMode="RGB"
        )


def mean_error(restored: Path, reference: Image.Image) -> float:
    """Mean difference in levels (0-255, over R, G, B) of a restored photo against a reference
    shrunk to its size."""
    with Image.open(restored) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    shrunk = reference.resize((pixels.shape[1], pixels.shape[0]), Image.Resampling.LANCZOS)
    return float(np.abs(pixels - np.asarray(shrunk, dtype=np.float32)).mean())


@pytest.mark.parametrize("space", sorted(RGB_SPACES))
def test_a_wide_gamut_photo_comes_back_in_its_own_colours(library, tmp_path, space):
    icc = matrix_profile(space)
    scene = photo_like(480, 320, seed=7)
    numbers = ImageCms.profileToProfile(
        scene, SRGB, ImageCms.ImageCmsProfile(io.BytesIO(icc)), outputMode="RGB"
    )
    path = library / "wide.jpg"
    numbers.save(path, quality=95, icc_profile=icc, exif=camera_exif(None))
    reference = rendered_to_srgb(path)
    unmanaged = np.abs(np.asarray(numbers, np.float32) - np.asarray(reference, np.float32))
    assert unmanaged.mean() > 4, "taken as sRGB, its numbers would be visibly off"
    dest, out = tmp_path / "backup", tmp_path / "restored"

    run("backup", library, dest, "--box", BOX, check_code=0)
    run("restore", dest, out, check_code=0)

    [photo] = record_of(dest, "").photos
    assert photo.converted_from == space
    assert mean_error(out / "wide.jpg", reference) < 4
    with Image.open(out / "wide.jpg") as restored:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(restored.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile), "it says what it is in"
    kept = next(b for b in photo.blocks if b.kind == "icc")
    assert kept.data == icc, "the original profile stays in the sidecar, byte for byte"
    checked = run("verify", dest, "--against", library, "--jobs", 2, check_code=0)
    colour = float(checked.stdout.split("colour error mean ")[1].split()[0])
    assert colour < 4, "verify measures colour, in the worker pool"


CMYK_PROFILE = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")


@pytest.mark.skipif(not CMYK_PROFILE.exists(), reason="needs libgs-common's CMYK profile")
def test_a_cmyk_photo_with_its_profile_comes_back_in_its_own_colours(library, tmp_path):
    icc = CMYK_PROFILE.read_bytes()
    scene = photo_like(480, 320, seed=8)
    cmyk = ImageCms.profileToProfile(
        scene, SRGB, ImageCms.ImageCmsProfile(io.BytesIO(icc)), outputMode="CMYK"
    )
    path = library / "print.jpg"
    cmyk.save(path, quality=95, icc_profile=icc)
    reference = rendered_to_srgb(path)
    dest, out = tmp_path / "backup", tmp_path / "restored"

    run("backup", library, dest, "--box", BOX, check_code=0)
    run("restore", dest, out, check_code=0)

    [photo] = record_of(dest, "").photos
    assert photo.converted_from
    assert mean_error(out / "print.jpg", reference) < 4
