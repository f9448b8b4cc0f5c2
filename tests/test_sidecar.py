"""The sidecar schema: written, read back, and the raw EXIF still decodes to the camera data."""

from __future__ import annotations

import io
from dataclasses import replace
from fractions import Fraction

import exifread
import pytest

from conftest import shoot
from photorescue_batch.config import Settings
from photorescue_batch.metadata import read_metadata
from photorescue_batch.photo import Placement
from photorescue_batch.sidecar import (
    SCHEMA_VERSION,
    KeptRecord,
    PhotoRecord,
    Segment,
    SidecarError,
    SidecarWriter,
    read_commit,
    read_sidecar,
)

SETTINGS = Settings(box=256, codec="av1", quality=30)


def segment(segment_id: int, frames: int) -> Segment:
    return Segment(
        id=segment_id,
        video=f"Folder.{segment_id}.mp4",
        settings=SETTINGS,
        frame_format=2,
        encoder="libsvtav1",
        pix_fmt="yuv420p",
        fps=Fraction(1),
        time_base=Fraction(1, 16384),
        frames=frames,
        bytes=4567,
        sha256="01" * 32,
        created="2026-11-30T10:00:00+00:00",
    )


def test_written_sidecar_reads_back_the_same_records_and_raw_exif_decodes(library, tmp_path):
    path = library / "a.jpg"
    shoot(path, minutes=3, make="FUJIFILM", model="X-T3")
    meta = read_metadata(path)
    first = PhotoRecord(
        segment=1,
        index=0,
        time=0.0,
        pts=0,
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
        added="2026-11-29T10:00:00+00:00",
        removed="2026-11-30T10:00:00+00:00",
    )
    odd = PhotoRecord(
        segment=2,
        index=0,
        time=0.0,
        pts=0,
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
    )
    kept = KeptRecord("broken.jpg", "Folder.kept/broken.jpg", 10, "ef" * 32, 9, "truncated")
    newer = replace(first, segment=2, index=1, time=1.0, pts=16384, removed=None, version=2)
    sidecar = tmp_path / "Folder.xml"
    with open(sidecar, "wb") as out:
        writer = SidecarWriter(out, "Trips/Folder", "f" * 64)
        for entry in (first, odd, kept, newer):
            writer.entry(entry)
        writer.finish([segment(1, 1), segment(2, 2)])

    record = read_sidecar(sidecar)

    assert record.folder == "Trips/Folder"
    assert record.fingerprint == "f" * 64
    assert record.segments == (segment(1, 1), segment(2, 2))
    assert record.entries[0] == first
    assert record.entries[1].name == odd.name
    assert record.entries[1].tags == {"MakerNote Weird": "nul\\x00 and bell\\x07"}
    assert record.kept == (kept,)
    assert record.newest()["a.jpg"] == (newer,), "the highest version of a name is its newest"
    commit = read_commit(sidecar)
    assert (commit.fingerprint, commit.segments) == ("f" * 64, record.segments)
    held = commit.holdings
    assert (held.photos, held.removed, held.unconverted, held.kept) == (2, 0, (kept,), (kept,))
    assert commit.stored_files() == {"Folder.1.mp4", "Folder.2.mp4", "Folder.kept/broken.jpg"}

    tags = exifread.process_file(io.BytesIO(record.photos[0].exif), details=False)
    assert str(tags["EXIF DateTimeOriginal"]) == "2021:05:01 12:03:00"
    assert str(tags["Image Make"]) == "FUJIFILM"
    assert str(tags["Image Model"]) == "X-T3"


def test_a_sidecar_from_a_newer_photorescue_is_refused_with_a_clear_message(tmp_path):
    sidecar = tmp_path / "Folder.xml"
    sidecar.write_text(
        f'<photorescue schema="{SCHEMA_VERSION + 1}" tool="9.0"><folder name="F"/>'
        "<fingerprint>x</fingerprint></photorescue>"
    )
    for read in (read_sidecar, read_commit):
        with pytest.raises(SidecarError, match=r"newer photorescue.*upgrade"):
            read(sidecar)


def test_a_schema_1_sidecar_reads_as_one_segment_with_its_unconverted_originals(tmp_path):
    """Backups made before segments existed stay readable, and their files where they are."""
    sidecar = tmp_path / "Trip.xml"
    sidecar.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<photorescue schema="1" tool="0.1.0">'
        '<folder name="Trip"/><settings box="256" codec="av1" quality="37" keyframes="scene" '
        'encoder="libsvtav1" pix_fmt="yuv420p" fps="1"/><fingerprint>abc</fingerprint>'
        '<photo name="a.jpg" index="0" time="0" pts="0" bytes="5" sha256="aa" mtime_ns="1" '
        'width="4" height="2" orientation="1" rect="0 1 4 2"/>'
        '<photo name="b.jpg" index="1" time="1" pts="16384" bytes="6" sha256="bb" mtime_ns="2" '
        'width="4" height="2" orientation="1" rect="0 1 4 2"/>'
        '<unconverted name="bad.jpg" bytes="3" mtime_ns="3" reason="truncated" sha256="cc"/>'
        '<video name="Trip.mp4" bytes="999" sha256="dd" frames="2" time_base="1/16384"/>'
        "</photorescue>\n"
    )
    record = read_sidecar(sidecar)
    [only] = record.segments
    assert (only.id, only.video, only.frames, only.settings.quality) == (1, "Trip.mp4", 2, 37)
    assert [(p.segment, p.index, p.pts) for p in record.photos] == [(1, 0, 0), (1, 1, 16384)]
    assert [k.stored for k in record.kept] == ["Trip.unconverted/bad.jpg"]
    commit = read_commit(sidecar)
    assert commit.segments == record.segments and commit.fingerprint == "abc"


def test_a_hostile_sidecar_is_refused_not_expanded(tmp_path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><photorescue>&b;</photorescue>'
    )
    with pytest.raises(SidecarError):
        read_sidecar(bomb)
