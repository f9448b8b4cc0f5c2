"""The index can be rebuilt from the data: a lost or damaged sidecar never costs a photo, and a
run deletes nothing it did not write itself."""

from __future__ import annotations

import gzip
import json
import signal

import av
import pytest

from conftest import BOX, fill, identity, record_of, run, run_until_killed, shoot
from photorescue_batch.layout import FolderLayout
from photorescue_batch.segment_records import read_records


@pytest.fixture
def backed_up(library, tmp_path):
    """Folder A backed up over two runs (two segments), with a kept file, and a photo that
    only the backup holds now (deleted from the library after the second run)."""
    fill(library, {"A": 5})
    (library / "A" / "notes.txt").write_text("the lake, 2021\n")
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    for i in range(3):
        shoot(library / "A" / f"later_{i}.jpg", seed=50 + i, minutes=40 + i)
    run("backup", library, dest, "--box", BOX, check_code=0)
    (library / "A" / "A_0.jpg").unlink()
    run("backup", library, dest, "--box", BOX, check_code=0)
    assert len(record_of(dest, "A").segments) == 2
    return library, dest


EVERY_FILE = (
    {f"A/A_{i}.jpg" for i in range(5)} | {f"A/later_{i}.jpg" for i in range(3)} | {"A/notes.txt"}
)


def _damage(dest, how: str) -> None:
    layout = FolderLayout.of(dest, "A")
    sidecar = layout.new_sidecar
    if how == "deleted":
        sidecar.unlink()
        layout.pointer.unlink()
    elif how == "truncated":
        sidecar.write_bytes(sidecar.read_bytes()[: sidecar.stat().st_size // 2])
    else:  # one bit flipped in the middle of the compressed stream
        data = bytearray(sidecar.read_bytes())
        data[len(data) // 2] ^= 0x10
        sidecar.write_bytes(bytes(data))


def _restored(dest, out) -> set[str]:
    result = run("restore", dest, out)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {
        "photorescue-restored-names.tsv"
    }


@pytest.mark.parametrize("how", ["deleted", "truncated", "bit-flipped"])
def test_restore_gives_everything_back_from_the_segments_when_the_sidecar_is_lost(
    backed_up, tmp_path, how
):
    _, dest = backed_up
    _damage(dest, how)
    assert _restored(dest, tmp_path / "out") == EVERY_FILE
    assert (tmp_path / "out" / "A" / "notes.txt").read_text() == "the lake, 2021\n"
    result = run("verify", dest)
    assert "Traceback" not in result.stderr and "rebuilt" in result.stdout + result.stderr


@pytest.mark.parametrize("how", ["deleted", "truncated", "bit-flipped"])
def test_the_next_backup_rebuilds_a_lost_sidecar_and_deletes_nothing(backed_up, tmp_path, how):
    library, dest = backed_up
    videos = {p.name: identity(p) for p in (dest / "A").glob("*.mp4")}
    kept = identity(dest / "A" / "A.kept" / "notes.txt")
    _damage(dest, how)

    result = run("backup", library, dest, "--box", BOX)

    # Finished, with something to look at where the sidecar was there but damaged; a missing
    # one is what a run stopped before its first commit leaves, and is no error.
    assert result.returncode == (0 if how == "deleted" else 1), result.stderr
    assert "rebuilt from its segments" in result.stderr
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert report["photos_encoded"] == 0  # every frame was still there
    assert {p.name: identity(p) for p in (dest / "A").glob("*.mp4")} == videos
    assert identity(dest / "A" / "A.kept" / "notes.txt") == kept
    if how != "deleted":
        assert (dest / "A" / "A.damaged.xml.gz").exists()  # set aside, not deleted
    run("backup", library, dest, "--box", BOX, check_code=0)  # and all is well again
    run("verify", dest, check_code=0)
    assert _restored(dest, tmp_path / "out") == EVERY_FILE
    record = record_of(dest, "A")
    assert next(p for p in record.photos if p.name == "A_0.jpg").removed  # marked again


def test_repair_writes_the_sidecar_anew_and_says_so(backed_up, tmp_path):
    _, dest = backed_up
    before = record_of(dest, "A")
    _damage(dest, "truncated")
    result = run("repair", dest)
    assert result.returncode == 0, result.stderr
    assert "A: sidecar written anew" in result.stdout
    after = record_of(dest, "A")
    strip = lambda r: sorted((e.name, e.version, e.sha256, e.bytes, e.mtime_ns) for e in r.entries)  # noqa: E731
    assert strip(after) == strip(before)
    assert [(s.video, s.frames, s.sha256) for s in after.segments] == [
        (s.video, s.frames, s.sha256) for s in before.segments
    ]
    exif = {p.name: p.exif for p in before.photos}
    assert all(p.exif == exif[p.name] for p in after.photos)  # the raw EXIF came back too
    run("verify", dest, check_code=0)


def test_every_video_carries_its_own_records_and_still_plays(backed_up):
    _, dest = backed_up
    folder = record_of(dest, "A")
    for segment in folder.segments:
        document = read_records(dest / "A" / segment.video)
        assert document is not None
        text = gzip.decompress(document).decode()
        assert all(f'name="{p.name}"' in text for p in folder.photos if p.segment == segment.id)
    run("verify", dest, check_code=0)  # every frame decodes


def test_a_video_no_sidecar_names_is_kept_and_never_overwritten(backed_up, tmp_path):
    library, dest = backed_up
    stranger = dest / "A" / "A.3.mp4"  # a copy someone put there, not one of ours
    stranger.write_bytes(b"not one of ours")
    shoot(library / "A" / "newest.jpg", seed=99, minutes=90)
    result = run("backup", library, dest, "--box", BOX)
    assert result.returncode == 1
    assert "A.3.mp4: not in the sidecar, and it carries no records; kept as it is" in result.stderr
    assert stranger.read_bytes() == b"not one of ours"
    assert [s.video for s in record_of(dest, "A").segments] == ["A.mp4", "A.2.mp4", "A.4.mp4"]


def test_a_segment_moved_into_place_before_the_kill_is_adopted_not_encoded_again(
    backed_up, tmp_path
):
    library, dest = backed_up
    for i in range(3):
        shoot(library / "A" / f"more_{i}.jpg", seed=70 + i, minutes=60 + i)
    code, _ = run_until_killed(
        "backup", library, dest, "--box", BOX,
        env={"PHOTORESCUE_KILL_AT": "video-renamed:1"}, tmp=tmp_path,
    )  # fmt: skip
    assert code == -signal.SIGKILL
    assert (dest / "A" / "A.3.mp4").exists()
    run("backup", library, dest, "--box", BOX)
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert report["photos_encoded"] == 0
    assert [s.video for s in record_of(dest, "A").segments] == ["A.mp4", "A.2.mp4", "A.3.mp4"]
    run("backup", library, dest, "--box", BOX, check_code=0)
    assert _restored(dest, tmp_path / "out") == EVERY_FILE | {f"A/more_{i}.jpg" for i in range(3)}


def _captions(video) -> list[str]:
    """The subtitle a player shows with each frame, in order."""
    with av.open(str(video)) as container:
        [stream] = container.streams.subtitles
        samples = sorted((p.pts, bytes(p)) for p in container.demux(stream) if p.size > 2)
    return [data[2:].decode() for _, data in samples]  # (the muxer adds empty cues between)


def test_a_player_shows_each_photo_name_and_date_and_compact_keeps_them(backed_up):
    _, dest = backed_up
    record = record_of(dest, "A")
    for segment in record.segments:
        photos = sorted(
            (p for p in record.photos if p.segment == segment.id), key=lambda p: p.index
        )
        assert _captions(dest / "A" / segment.video) == [
            f"{p.name}\n{p.captured.replace('T', ' ')}" for p in photos
        ]
    run("compact", dest, check_code=0)
    [segment] = record_of(dest, "A").segments
    by_index = sorted(record_of(dest, "A").photos, key=lambda p: p.index)
    assert [c.split("\n")[0] for c in _captions(dest / "A" / segment.video)] == [
        p.name for p in by_index
    ]
    run("verify", dest, check_code=0)
