"""Every file in the library ends up somewhere: a frame, kept byte for byte, or listed with why.

The library is laid out the way phones, cameras and scanners leave one: Live Photos with their
videos and edits, RAW+JPEG pairs with .xmp files, a stereo MPO, a multi-page TIFF scan, names in
several scripts, hidden files, and a few broken files of every new kind.
"""

from __future__ import annotations

import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from conftest import BOX, frames, letterbox_reference, record_of, run, shoot
from photorescue_batch.demo import photo_like
from photorescue_batch.photo import Placement
from photorescue_batch.similarity import ssim

pidng = pytest.importorskip("pidng.core")


def make_video(path: Path, seconds: int = 2) -> None:
    """A short real H.264 video, as a phone's Live Photo or clip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mov" if path.suffix.lower() == ".mov" else "mp4") as out:
        stream = out.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(4 * seconds):
            picture = np.full((48, 64, 3), (i * 30) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 4)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def make_dng(path: Path, upright: Image.Image) -> None:
    """A DNG holding Bayer sensor data (RGGB, 12 bits, linear light) of `upright`, with a
    camera's Make and Model, written by PiDNG."""
    from pidng.core import RAW2DNG, DNGTags, Tag
    from pidng.defs import (
        CalibrationIlluminant,
        CFAPattern,
        DNGVersion,
        Orientation,
        PhotometricInterpretation,
        PreviewColorSpace,
    )

    linear = (np.asarray(upright, dtype=np.float32) / 255) ** 2.2 * 4095
    height, width = linear.shape[:2]
    bayer = np.zeros((height, width), dtype=np.uint16)
    bayer[0::2, 0::2] = linear[0::2, 0::2, 0]
    bayer[0::2, 1::2] = linear[0::2, 1::2, 1]
    bayer[1::2, 0::2] = linear[1::2, 0::2, 1]
    bayer[1::2, 1::2] = linear[1::2, 1::2, 2]
    t = DNGTags()
    for tag, value in [
        (Tag.ImageWidth, width), (Tag.ImageLength, height), (Tag.TileWidth, width),
        (Tag.TileLength, height), (Tag.Orientation, Orientation.Horizontal),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 12), (Tag.CFARepeatPatternDim, [2, 2]),
        (Tag.CFAPattern, CFAPattern.RGGB), (Tag.BlackLevel, 0), (Tag.WhiteLevel, 4095),
        (Tag.ColorMatrix1, [[1, 1], [0, 1], [0, 1], [0, 1], [1, 1], [0, 1], [0, 1], [0, 1],
                            [1, 1]]),
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]), (Tag.Make, "Canon"),
        (Tag.Model, "EOS R5"), (Tag.DNGVersion, DNGVersion.V1_4),
        (Tag.DNGBackwardVersion, DNGVersion.V1_2),
        (Tag.PreviewColorSpace, PreviewColorSpace.sRGB),
    ]:  # fmt: skip
        t.set(tag, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = RAW2DNG()
    writer.options(t, path=str(path.parent), compress=False)
    writer.convert(bayer, filename=path.stem)
    (path.parent / f"{path.stem}.dng").rename(path)


XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>\n'
AAE = '<?xml version="1.0"?><plist version="1.0"><dict><key>adjustmentFormatVersion</key>'


@pytest.fixture
def real_library(library: Path) -> dict[str, object]:
    """Build the library; return what each photo should look like, by its relative path."""
    looks: dict[str, object] = {}
    phone, camera, scans = library / "DCIM" / "100APPLE", library / "Camera", library / "Scans"

    looks["DCIM/100APPLE/IMG_0001.HEIC"] = shoot(phone / "IMG_0001.HEIC", seed=1)
    make_video(phone / "IMG_0001.MOV")  # its Live Photo
    (phone / "IMG_0001.AAE").write_text(AAE)  # its edit
    looks["DCIM/100APPLE/Ёлка 写真 صورة.jpg"] = shoot(phone / "Ёлка 写真 صورة.jpg", seed=2)
    make_video(phone / "clip.mp4", seconds=3)
    burst = [photo_like(480, 320, seed=s) for s in (3, 4)]
    burst[0].save(phone / "burst.heic", save_all=True, append_images=burst[1:])
    looks["DCIM/100APPLE/burst.heic"] = burst
    (phone / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))

    raw_look = photo_like(480, 320, seed=5)
    make_dng(camera / "DSC_0001.DNG", raw_look)
    looks["Camera/DSC_0001.DNG"] = raw_look
    looks["Camera/DSC_0001.JPG"] = shoot(camera / "DSC_0001.JPG", seed=5)  # the camera's JPEG
    (camera / "DSC_0001.xmp").write_text(XMP)
    stereo = [photo_like(480, 320, seed=6), photo_like(480, 320, seed=7)]
    stereo[0].save(camera / "DSCF0002.MPO", save_all=True, append_images=stereo[1:])
    looks["Camera/DSCF0002.MPO"] = stereo
    good = (camera / "DSC_0001.DNG").read_bytes()
    (camera / "DSC_0003.DNG").write_bytes(good[: len(good) // 3])  # truncated
    (camera / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    shoot(camera / ".thumbnails" / "DSC_0001.jpg", seed=8)

    scans.mkdir()
    pages = [photo_like(400, 560, seed=s) for s in (9, 10, 11)]
    pages[0].save(scans / "letter.tif", save_all=True, append_images=pages[1:],
                  compression="tiff_deflate")  # fmt: skip
    looks["Scans/letter.tif"] = pages
    (scans / "notes.txt").write_text("scanned 2024-03-01\n")
    logo = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    logo.paste((0, 0, 0, 255), (60, 50, 240, 150))
    logo.save(scans / "logo.png")
    looks["Scans/logo.png"] = "transparent"
    return looks


KEPT = {
    "DCIM/100APPLE/IMG_0001.MOV", "DCIM/100APPLE/IMG_0001.AAE", "DCIM/100APPLE/clip.mp4",
    "DCIM/100APPLE/broken.mp4", "Camera/DSC_0001.xmp", "Camera/DSC_0003.DNG",
    "Scans/notes.txt", "Scans/logo.png",
}  # fmt: skip
SKIPPED = {"Camera/.DS_Store", "Camera/.thumbnails/"}


def restored_like(path: Path, upright: Image.Image, floor: float = 0.85) -> None:
    with Image.open(path) as image:
        assert image.format == "JPEG", path
        pixels = np.asarray(image.convert("RGB"))
    h, w = pixels.shape[:2]
    score = ssim(pixels, letterbox_reference(upright, Placement(0, 0, w, h)))
    assert score >= floor, (path, score)


def test_every_file_is_a_frame_kept_or_listed_and_restore_gives_each_back(
    real_library, library, tmp_path
):
    dest = tmp_path / "backup"
    result = run("backup", library, dest, "--box", BOX)

    assert result.returncode == 1, result.stderr  # the truncated DNG could not be converted
    for name, why in [("DSC_0003.DNG", "LibRaw cannot read it"),
                      ("broken.mp4", "not a video that can be played"),
                      ("logo.png", "has transparency: flattened onto white")]:  # fmt: skip
        [line] = [line for line in result.stderr.splitlines() if name in line]
        assert why in line, line
    report = json.loads((dest / "photorescue-report.json").read_text())
    kept = {f"{o['relative']}/{k['name']}" for o in report["outcomes"] for k in o["kept"]}
    skipped = {f"{o['relative']}/{s['name']}" for o in report["outcomes"] for s in o["skipped"]}
    assert kept == KEPT
    assert skipped == SKIPPED
    assert report["photos"] == 8 and report["photos_encoded"] == 12  # 8 files, 12 images
    assert "8 photos (12 encoded by this run), 8 files kept byte for byte" in result.stdout
    assert record_of(dest, "Camera").photos[0].tags["Image Make"] == "Canon"

    out = tmp_path / "restored"
    restored = run("restore", dest, out)
    assert restored.returncode == 0, restored.stderr
    for relative in KEPT:
        original, back = library / relative, out / relative
        assert back.read_bytes() == original.read_bytes(), relative
        assert back.stat().st_mtime_ns == original.stat().st_mtime_ns, relative
    restored_like(out / "DCIM/100APPLE/IMG_0001.jpg", real_library["DCIM/100APPLE/IMG_0001.HEIC"])
    restored_like(out / "DCIM/100APPLE/Ёлка 写真 صورة.jpg",
                  real_library["DCIM/100APPLE/Ёлка 写真 صورة.jpg"])  # fmt: skip
    restored_like(out / "Camera/DSC_0001.JPG", real_library["Camera/DSC_0001.JPG"])
    restored_like(out / "Camera/DSC_0001.DNG.jpg", real_library["Camera/DSC_0001.DNG"], 0.7)
    for relative, names in [
        ("DCIM/100APPLE/burst.heic", ["burst.jpg", "burst-2.jpg"]),
        ("Camera/DSCF0002.MPO", ["DSCF0002.jpg", "DSCF0002-2.jpg"]),
        ("Scans/letter.tif", ["letter.jpg", "letter-2.jpg", "letter-3.jpg"]),
    ]:
        folder = out / Path(relative).parent
        for name, look in zip(names, real_library[relative], strict=True):
            restored_like(folder / name, look)
    names = (out / "photorescue-restored-names.tsv").read_text().splitlines()
    assert "Camera/DSCF0002-2.jpg\tCamera/DSCF0002.MPO#2" in names
    assert "Scans/letter-3.jpg\tScans/letter.tif#3" in names
    assert not (out / "Camera" / ".DS_Store").exists()

    checked = run("verify", dest, "--against", library)
    assert checked.returncode == 0, checked.stdout
    assert "0 library files not in the backup" in checked.stdout


def test_a_black_logo_on_transparency_stays_visible(real_library, library, tmp_path):
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX)
    [logo] = [p for p in record_of(dest, "Scans").photos if p.name == "logo.png"]
    assert logo.flattened == "white"
    frame = frames(dest / "Scans" / "Scans.mp4")[logo.index]
    r = logo.rect
    content = frame[r.y : r.y + r.h, r.x : r.x + r.w].mean(axis=2)
    assert content[2, 2] > 200 and content[r.h // 2, r.w // 2] < 50, "black on white"


def test_the_policy_skips_videos_and_keeps_raw_originals_per_folder(
    real_library, library, tmp_path
):
    config = tmp_path / "policy.yaml"
    config.write_text(
        f"defaults: {{box: {BOX}}}\n"
        "rules:\n  - {match: 'DCIM/**', videos: skip}\n  - {match: Camera, keep_raw: true}\n"
    )
    dest = tmp_path / "backup"
    run("backup", library, dest, "--config", config)

    phone = record_of(dest, "DCIM/100APPLE")
    reasons = {s.name: s.reason for s in phone.skipped}
    assert reasons["IMG_0001.MOV"] == reasons["clip.mp4"] == "videos: skip, in the policy"
    assert "IMG_0001.AAE" in [k.name for k in phone.kept], "sidecar files are always kept"
    out = tmp_path / "restored"
    run("restore", dest, out, "Camera/DSC_0001.DNG", check_code=0)
    original = (library / "Camera" / "DSC_0001.DNG").read_bytes()
    assert (out / "Camera" / "DSC_0001.DNG").read_bytes() == original, "the RAW, kept whole"
    again = run("backup", library, dest, "--config", config)
    assert "0 encoded by this run" in again.stdout, "a rerun with the policy is up to date"


def test_a_hidden_file_that_appears_is_listed_at_the_next_run(library, tmp_path):
    shoot(library / "Trip" / "a.jpg")
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    (library / "Trip" / ".DS_Store").write_bytes(b"Bud1")

    again = run("backup", library, dest, "--box", BOX, check_code=0)

    assert "0 encoded by this run" in again.stdout and "1 not backed up" in again.stdout
    assert [(s.name, s.reason) for s in record_of(dest, "Trip").skipped] == [
        (".DS_Store", "hidden")
    ]


def mark_second_image_as_thumbnail(path: Path) -> None:
    """Set the MP Type of an MPO's second image to Large Thumbnail (VGA), as cameras do."""
    data = bytearray(path.read_bytes())
    tiff = data.index(b"MPF\x00") + 4
    order = "<" if data[tiff : tiff + 2] == b"II" else ">"
    ifd = tiff + struct.unpack_from(order + "I", data, tiff + 4)[0]
    (count,) = struct.unpack_from(order + "H", data, ifd)
    for n in range(count):
        tag, _, _, value = struct.unpack_from(order + "HHII", data, ifd + 2 + 12 * n)
        if tag == 0xB002:  # MP Entry: 16 bytes per image, the attribute first
            struct.pack_into(order + "I", data, tiff + value + 16, 0x010001)
    path.write_bytes(bytes(data))


def test_auxiliary_images_are_listed_not_framed(library, tmp_path):
    pair = [photo_like(480, 320, seed=21), photo_like(160, 120, seed=22)]
    pair[0].save(library / "DSCF0003.MPO", save_all=True, append_images=pair[1:])
    mark_second_image_as_thumbnail(library / "DSCF0003.MPO")
    gain_map = photo_like(240, 160, seed=23).convert("L")  # as an Ultra HDR JPEG carries it
    pair[0].save(library / "PXL_0004.jpg", "MPO", save_all=True, append_images=[gain_map])
    dest = tmp_path / "backup"

    run("backup", library, dest, "--box", BOX, check_code=0)

    record = record_of(dest, "")
    assert [(p.name, p.image) for p in record.photos] == [("DSCF0003.MPO", 1), ("PXL_0004.jpg", 1)]
    assert [(s.name, s.reason) for s in record.skipped] == [
        ("DSCF0003.MPO#2", "thumbnail"),
        ("PXL_0004.jpg#2", "HDR gain map"),
    ]
    out = tmp_path / "restored"
    run("restore", dest, out, check_code=0)
    assert sorted(p.name for p in out.iterdir()) == [
        "DSCF0003.jpg",
        "PXL_0004.jpg",
        "photorescue-restored-names.tsv",
    ]
    assert run("verify", dest, "--against", library, check_code=0)
