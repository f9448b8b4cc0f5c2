"""Metadata: what the sidecar keeps, and the in-place EXIF edits restore makes."""

from __future__ import annotations

import io
import struct
import subprocess
import sys

import exifread
from PIL import Image

from photorescue_batch.metadata import read_metadata, upright_exif, without_thumbnail


def exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """A big-endian EXIF block as cameras write it: IFD0 (Make, Orientation), then IFD1 and the
    embedded preview JPEG at the end."""
    make = b"Canon\x00"
    ifd0 = 8
    ifd0_size = 2 + 2 * 12 + 4
    make_at = ifd0 + ifd0_size
    ifd1 = make_at + len(make)
    ifd1_size = 2 + 2 * 12 + 4
    thumb_at = ifd1 + ifd1_size
    block = b"MM\x00*" + struct.pack(">I", ifd0)
    block += struct.pack(">H", 2)
    block += struct.pack(">HHII", 0x010F, 2, len(make), make_at)
    block += struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
    block += struct.pack(">I", ifd1) + make
    block += struct.pack(">H", 2)
    block += struct.pack(">HHII", 0x0201, 4, 1, thumb_at)
    block += struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail))
    block += struct.pack(">I", 0) + thumbnail
    return block


def test_the_embedded_preview_is_dropped_and_every_tag_kept(tmp_path):
    preview = io.BytesIO()
    Image.new("RGB", (160, 120), "green").save(preview, "JPEG", quality=95)
    raw = exif_with_thumbnail(preview.getvalue())
    assert "JPEGThumbnail" in exifread.process_file(io.BytesIO(raw), details=False)
    path = tmp_path / "a.jpg"
    Image.new("RGB", (64, 48)).save(path, exif=b"Exif\x00\x00" + raw)

    meta = read_metadata(path)

    assert len(meta.exif) < len(raw) - len(preview.getvalue()) + 40
    assert meta.exif == without_thumbnail(raw)
    tags = exifread.process_file(io.BytesIO(meta.exif), details=False)
    assert "JPEGThumbnail" not in tags
    assert str(tags["Image Make"]) == "Canon" and meta.orientation == 6
    assert meta.problem is None


def test_upright_exif_patches_only_orientation_in_place():
    raw = exif_with_thumbnail(b"")
    patched = upright_exif(raw, 100, 200)
    assert len(patched) == len(raw)
    assert sum(a != b for a, b in zip(raw, patched, strict=True)) == 1
    assert str(exifread.process_file(io.BytesIO(patched))["Image Orientation"]) == (
        "Horizontal (normal)"
    )


def test_an_empty_exif_block_is_not_a_problem(tmp_path):
    path = tmp_path / "a.jpg"
    Image.new("RGB", (8, 8)).save(
        path, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00"
    )
    assert read_metadata(path).problem is None


def test_reading_a_huge_pngs_metadata_decodes_none_of_its_pixels(tmp_path):
    """A 100 MP scan saved as PNG (300 MB decoded): its metadata read stays small."""
    path = tmp_path / "scan.png"
    Image.new("RGB", (10_000, 10_000), (200, 180, 160)).save(path, compress_level=1)
    # The peak of this process alone (VmHWM: ru_maxrss would carry over the test's own peak).
    peak = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
    probe = (
        "import sys; from pathlib import Path; "
        "from photorescue_batch.metadata import read_metadata; "
        f"before = {peak}; "
        "read_metadata(Path(sys.argv[1])); read_metadata(Path(sys.argv[1]), with_blocks=False); "
        f"print({peak} - before)"
    )
    grown_kb = int(subprocess.check_output([sys.executable, "-c", probe, str(path)]))
    assert grown_kb < 100_000, f"the metadata read took {grown_kb // 1000} MB more"
