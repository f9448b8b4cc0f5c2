"""The sidecar schema: written, read back, and the raw EXIF still decodes to the camera data."""

from __future__ import annotations

import io
from fractions import Fraction

import exifread
import pytest

from conftest import shoot
from photorescue_batch.config import Settings
from photorescue_batch.metadata import read_metadata
from photorescue_batch.photo import Placement
from photorescue_batch.sidecar import (
    PhotoRecord,
    SidecarError,
    SidecarWriter,
    UnconvertedRecord,
    VideoInfo,
    read_commit,
    read_sidecar,
)


def test_written_sidecar_reads_back_the_same_records_and_raw_exif_decodes(library, tmp_path):
    path = library / "a.jpg"
    shoot(path, minutes=3, make="FUJIFILM", model="X-T3")
    meta = read_metadata(path)
    photos = [
        PhotoRecord(
            index=0,
            name="a.jpg",
            bytes=123,
            sha256="ab" * 32,
            mtime_ns=1_600_000_000_123_456_789,
            width=480,
            height=320,
            orientation=1,
            rect=Placement(0, 42, 256, 171),
            captured=meta.captured,
            tags=meta.tags,
            exif=meta.exif,
        ),
        PhotoRecord(
            index=1,
            name="odd name\nwith newline ü.jpg",
            bytes=5,
            sha256="cd" * 32,
            mtime_ns=7,
            width=10,
            height=20,
            orientation=6,
            rect=Placement(1, 2, 3, 4),
            tags={"MakerNote Weird": "nul\x00 and bell\x07"},
            problem="corrupt EXIF: x",
        ),
    ]
    unconverted = UnconvertedRecord("broken.jpg", 10, "ef" * 32, 9, "cannot decode: truncated")
    video = VideoInfo("Folder.mp4", 4567, "01" * 32, 2, Fraction(1, 16384))
    settings = Settings(box=256, codec="av1", quality=30)
    sidecar = tmp_path / "Folder.xml"
    with open(sidecar, "wb") as out:
        writer = SidecarWriter(out, "Trips/Folder", settings, "f" * 64)
        for p in photos:
            writer.photo(p)
        writer.unconverted(unconverted)
        writer.finish(video)

    record = read_sidecar(sidecar)

    assert record.folder == "Trips/Folder"
    assert record.settings == settings
    assert record.fingerprint == "f" * 64
    assert record.video == video
    assert record.photos[0] == photos[0]
    assert record.photos[1].name == photos[1].name
    assert record.photos[1].tags == {"MakerNote Weird": "nul\\x00 and bell\\x07"}
    assert record.unconverted == (unconverted,)
    assert record.pts(record.photos[1]) == 16384
    commit = read_commit(sidecar)
    assert (commit.fingerprint, commit.video, commit.unconverted) == (
        "f" * 64,
        video,
        (unconverted,),
    )

    tags = exifread.process_file(io.BytesIO(record.photos[0].exif), details=False)
    assert str(tags["EXIF DateTimeOriginal"]) == "2021:05:01 12:03:00"
    assert str(tags["Image Make"]) == "FUJIFILM"
    assert str(tags["Image Model"]) == "X-T3"


def test_a_hostile_sidecar_is_refused_not_expanded(tmp_path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><photorescue>&b;</photorescue>'
    )
    with pytest.raises(SidecarError):
        read_sidecar(bomb)
