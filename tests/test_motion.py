"""Everything a phone writes is kept: a motion photo comes back a motion photo, its clip byte for
byte after the restored JPEG's end, its XMP intact, so exiftool (and phones) still find it."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import BOX, record_of, run, shoot
from photorescue_batch.blocks import MetadataBlock, insert_segments, jpeg_segments
from photorescue_batch.trailer import image_end


def _clip() -> bytes:
    """A real MP4, as a phone appends it: a second of video (noise, so that it weighs
    what a clip does rather than a few bytes)."""
    out_buffer = io.BytesIO()
    noise = np.random.default_rng(0)
    with av.open(out_buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width = stream.height = 128
        stream.pix_fmt = "yuv420p"
        for _ in range(10):
            frame = noise.integers(0, 256, (128, 128, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))
    return out_buffer.getvalue()


def _pixel_xmp(clip: bytes) -> bytes:
    """A Pixel's Motion Photo XMP: GCamera:MotionPhoto and the Container:Directory."""
    item = '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="{}" Item:Semantic="{}" ' \
        'Item:Length="{}" Item:Padding="0"/></rdf:li>'  # fmt: skip
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#"><rdf:Description xmlns:GCamera="http://ns.google.com/photos/1.0/'
        'camera/" xmlns:Container="http://ns.google.com/photos/1.0/container/" xmlns:Item='
        '"http://ns.google.com/photos/1.0/container/item/" GCamera:MotionPhoto="1" '
        'GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="500000">'
        "<Container:Directory><rdf:Seq>"
        + item.format("image/jpeg", "Primary", 0)
        + item.format("video/mp4", "MotionPhoto", len(clip))
        + "</rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def _samsung_trailer(clip: bytes) -> bytes:
    """A Galaxy's trailer: the clip in a MotionPhoto_Data record, then the SEF directory."""
    name = b"MotionPhoto_Data"
    record = struct.pack("<HHI", 0, 0x0A30, len(name)) + name + clip
    directory = b"SEFH" + struct.pack("<II", 106, 1)
    directory += struct.pack("<HHII", 0, 0x0A30, len(record), len(record))
    return record + directory + struct.pack("<I", len(directory)) + b"SEFT"


@pytest.fixture
def phone(library: Path) -> tuple[Path, bytes, dict[str, bytes]]:
    """A phone folder: a Pixel motion photo, a Galaxy one, one with an app's trailer, a still."""
    clip = _clip()
    folder = library / "Camera"
    trailers = {}
    for name, seed in [("PXL_1.MP.jpg", 1), ("20210501_120000.jpg", 2), ("app.jpg", 3)]:
        shoot(folder / name, seed=seed, minutes=seed)
    pixel = folder / "PXL_1.MP.jpg"
    xmp = jpeg_segments([MetadataBlock("xmp", _pixel_xmp(clip))])
    pixel.write_bytes(insert_segments(pixel.read_bytes(), xmp) + clip)
    trailers["PXL_1.MP.jpg"] = clip
    trailers["20210501_120000.jpg"] = _samsung_trailer(clip)
    trailers["app.jpg"] = b"SOME_APP_TRAILER\x00" + bytes(range(256)) * 40
    for name in ("20210501_120000.jpg", "app.jpg"):
        with open(folder / name, "ab") as f:
            f.write(trailers[name])
    shoot(folder / "still.jpg", seed=4, minutes=4)
    shoot(folder / "edited.jpg", seed=5, minutes=5)
    with open(folder / "edited.jpg", "ab") as f:
        f.write(b"\n")  # what some editors leave: kept in the sidecar, not as a file
    return library, clip, trailers


def _after_image(path: Path) -> bytes:
    data = path.read_bytes()
    end = image_end(path)
    return data[end:] if end is not None else b""


def _exiftool(*args: str | Path) -> bytes:
    return subprocess.run(["exiftool", *map(str, args)], capture_output=True, check=True).stdout


def test_motion_photos_come_back_with_their_clip_and_xmp(phone, tmp_path):
    if not shutil.which("exiftool"):
        pytest.skip("Debian's exiftool (libimage-exiftool-perl) is not installed")
    library, clip, trailers = phone
    dest, out = tmp_path / "backup", tmp_path / "restored"

    result = run("backup", library, dest, "--box", BOX)

    assert result.returncode == 0, result.stderr
    assert "3 motion clips and other bytes after a JPEG's image kept" in result.stdout
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert report["motion_clips_kept"] == 3
    assert report["motion_clip_bytes"] == sum(len(t) for t in trailers.values())
    kinds = {p.name: p.trailer.kind for p in record_of(dest, "Camera").photos if p.trailer}
    assert kinds == {
        "PXL_1.MP.jpg": "Google motion photo clip",
        "20210501_120000.jpg": "Samsung motion photo clip",
        "app.jpg": "bytes after the JPEG's end",
    }
    run("verify", dest, check_code=0)
    run("restore", dest, out, check_code=0)
    for name, trailer in trailers.items():
        assert _after_image(out / "Camera" / name) == trailer, name  # byte for byte
    assert _after_image(out / "Camera" / "still.jpg") == b""
    assert _after_image(out / "Camera" / "edited.jpg") == b"\n"
    kept = sorted(p.name for p in (dest / "Camera" / "Camera.kept").iterdir())
    assert kept == sorted(f"{name}.after-image" for name in trailers)
    original_xmp = _exiftool("-b", "-XMP", library / "Camera" / "PXL_1.MP.jpg")
    assert _exiftool("-b", "-XMP", out / "Camera" / "PXL_1.MP.jpg") == original_xmp
    pixel, galaxy = out / "Camera" / "PXL_1.MP.jpg", out / "Camera" / "20210501_120000.jpg"
    assert _exiftool("-s3", "-XMP-GCamera:MotionPhoto", pixel).strip() == b"1"
    assert _exiftool("-b", "-ee", "-EmbeddedVideo", pixel) == clip  # as the directory says
    assert _exiftool("-s3", "-EmbeddedVideoType", galaxy).strip() == b"MotionPhoto_Data"
    assert _exiftool("-b", "-EmbeddedVideoFile", galaxy) == clip


def test_the_policy_can_skip_motion_clips_and_lists_them(phone, tmp_path):
    library, _, _ = phone
    config = tmp_path / "stills.yaml"
    config.write_text("defaults: {motion: skip}\n")
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, "--config", config, check_code=0)
    record = record_of(dest, "Camera")
    assert not any(p.trailer for p in record.photos)
    skipped = {s.name: s.reason for s in record.skipped}
    assert skipped["PXL_1.MP.jpg#after-image"].endswith("motion: skip, in the policy")
    assert len(skipped) == 3
