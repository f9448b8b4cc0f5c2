"""A rerun never takes a photo out of the backup: segments, removed photos, versions, compact."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from conftest import (
    BOX,
    backup_of,
    fill,
    folder_frames,
    frames,
    identity,
    letterbox_reference,
    partials,
    record_of,
    run,
    run_until_killed,
    shoot,
)
from photorescue_batch.lock import LOCK_NAME
from photorescue_batch.photo import Placement
from photorescue_batch.sidecar import SCHEMA_VERSION
from photorescue_batch.similarity import ssim


def report(dest: Path) -> dict:
    return json.loads((dest / "photorescue-report.json").read_text())


def restored_ssim(path: Path, upright: Image.Image) -> float:
    """How much a restored photo looks like the original it should be (at its own size)."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    h, w = pixels.shape[:2]
    return ssim(pixels, letterbox_reference(upright, Placement(0, 0, w, h)))


def damage_in_place(path: Path) -> None:
    """Zero 2 KB in the middle of a file, keeping its size and mtime: bit rot."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2048] = bytes(2048)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_deleted_a_damaged_and_a_new_photo_lose_nothing(library, tmp_path):
    """The scenario of issue 12: deleted, damaged in place, added; then restore everything."""
    camera = library / "Camera"
    uprights = {
        f"IMG_{i}.jpg": shoot(camera / f"IMG_{i}.jpg", size=(600, 400), seed=i, minutes=i)
        for i in range(8)
    }
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    first_video = identity(dest / "Camera" / "Camera.mp4")

    (camera / "IMG_2.jpg").unlink()
    damage_in_place(camera / "IMG_5.jpg")
    uprights["new.jpg"] = shoot(camera / "new.jpg", size=(600, 400), seed=99, minutes=60)
    rerun = run("backup", library, dest, "--box", BOX, check_code=0)

    assert report(dest)["photos_encoded"] == 1, "the rerun encodes exactly the new photo"
    assert report(dest)["files_removed_from_library"] == 1
    assert "1 files removed from the library, still in the backup" in rerun.stdout
    assert identity(dest / "Camera" / "Camera.mp4") == first_video, "never rewritten"
    record = record_of(dest, "Camera")
    assert [s.frames for s in record.segments] == [8, 1]
    [removed] = [p for p in record.photos if p.removed]
    assert removed.name == "IMG_2.jpg" and removed.removed.startswith("20")

    out = tmp_path / "restored"
    result = run("restore", dest, out, check_code=0)
    assert "9 photos restored" in result.stdout
    assert sorted(p.name for p in (out / "Camera").iterdir()) == sorted(uprights)
    for name, upright in uprights.items():
        assert restored_ssim(out / "Camera" / name, upright) >= 0.9, name
    assert run("verify", dest, check_code=0).stdout.startswith("ok")

    checked = run("verify", dest, "--against", library)
    assert checked.returncode == 1, "a library photo changed in place is worth a warning"
    assert "IMG_5.jpg: changed in place (possible bit rot)" in checked.stdout
    assert "removed from the library (still in the backup): IMG_2.jpg" in checked.stdout
    again = run("backup", library, dest, "--box", BOX, "--verify-existing", check_code=1)
    assert "IMG_5.jpg: changed in place (possible bit rot)" in again.stderr
    assert report(dest)["photos_encoded"] == 0 and report(dest)["photos_changed_in_place"] == 1


def test_a_changed_photo_keeps_its_old_version_and_restore_can_give_it_back(library, tmp_path):
    old = shoot(library / "Edits" / "a.jpg", seed=1)
    shoot(library / "Edits" / "b.jpg", seed=2, minutes=1)
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    new = shoot(library / "Edits" / "a.jpg", seed=3)  # edited: other bytes, other mtime
    os.utime(library / "Edits" / "a.jpg", ns=(1, 1_700_000_000_000_000_000))

    run("backup", library, dest, "--box", BOX, check_code=0)

    record = record_of(dest, "Edits")
    assert [p.name for p in record.photos] == ["a.jpg", "b.jpg", "a.jpg"]
    [row] = json.loads(run("ls", dest, "--json", check_code=0).stdout)
    assert (row["photos"], row["older_versions"], row["segments"]) == (2, 1, 2)
    out = tmp_path / "restored"
    run("restore", dest, out, check_code=0)
    assert restored_ssim(out / "Edits" / "a.jpg", new) >= 0.9, "the newest version by default"
    assert not (out / "Edits" / "a.v1.jpg").exists()
    everything = tmp_path / "every-version"
    run("restore", dest, everything, "--all-versions", check_code=0)
    assert restored_ssim(everything / "Edits" / "a.v1.jpg", old) >= 0.9
    assert restored_ssim(everything / "Edits" / "a.jpg", new) >= 0.9
    names = (everything / "photorescue-restored-names.tsv").read_text().splitlines()
    assert names == ["Edits/a.v1.jpg\tEdits/a.jpg"]


def test_a_settings_change_re_encodes_what_the_library_holds_and_keeps_the_rest(library, tmp_path):
    fill(library, {"Trip": 3})
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    (library / "Trip" / "Trip_0.jpg").unlink()

    run("backup", library, dest, "--box", 2 * BOX, check_code=0)

    record = record_of(dest, "Trip")
    assert [(s.frames, s.settings.box) for s in record.segments] == [(3, BOX), (2, 2 * BOX)]
    newest = record.newest()
    [gone], [kept] = newest["Trip_0.jpg"], newest["Trip_1.jpg"]
    assert gone.segment == 1 and gone.removed and kept.segment == 2
    out = tmp_path / "restored"
    run("restore", dest, out, check_code=0)
    assert sorted(p.name for p in (out / "Trip").iterdir()) == [f"Trip_{i}.jpg" for i in range(3)]


@pytest.mark.parametrize(
    "reserved", ["Trip.xml", "Trip.unconverted", "Trip.mp4", "Trip.kept", "x~"]
)
def test_a_library_folder_named_like_a_backup_file_collides_with_nothing(
    library, tmp_path, reserved
):
    shoot(library / "Trip" / "a.jpg", seed=1)
    shoot(library / "Trip" / reserved / "b.jpg", seed=2)
    shoot(library / "Trip" / reserved / "Trip.xml" / "c.jpg", seed=3)
    dest = tmp_path / "backup"

    run("backup", library, dest, "--box", BOX, check_code=0)
    before = {
        p: identity(p)
        for p in dest.rglob("*")
        if p.is_file() and p.suffix != ".json" and p.name != LOCK_NAME
    }
    rerun = run("backup", library, dest, "--box", BOX, check_code=0)
    assert "3 folders, 3 photos (0 encoded by this run)" in rerun.stdout
    assert {p: identity(p) for p in before} == before, "nothing overwritten or deleted"

    out = tmp_path / "restored"
    run("restore", dest, out, check_code=0)
    restored = sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg"))
    assert restored == sorted(
        ["Trip/a.jpg", f"Trip/{reserved}/b.jpg", f"Trip/{reserved}/Trip.xml/c.jpg"]
    )
    assert run("verify", dest, "--against", library, check_code=0)


def test_a_folder_deleted_from_the_library_stays_and_is_reported_as_removed(library, tmp_path):
    fill(library, {"Kept": 2, "Gone": 3})
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    video = identity(dest / "Gone" / "Gone.mp4")
    shutil.rmtree(library / "Gone")

    result = run("backup", library, dest, "--box", BOX, check_code=0)

    by_folder = {o["relative"]: o for o in report(dest)["outcomes"]}
    assert by_folder["Gone"]["status"] == "removed" and by_folder["Gone"]["removed"] == 3
    assert "3 files removed from the library" in result.stdout
    assert identity(dest / "Gone" / "Gone.mp4") == video
    checked = run("verify", dest, "--against", library, check_code=0)
    assert "changed" not in checked.stdout.replace("0 changed", "")
    assert "3 removed from the library (kept in the backup)" in checked.stdout
    out = tmp_path / "restored"
    run("restore", dest, out, "Gone", check_code=0)
    assert sorted(p.name for p in (out / "Gone").iterdir()) == [f"Gone_{i}.jpg" for i in range(3)]
    run("backup", library, dest, "--box", BOX, check_code=0)
    assert {o["status"] for o in report(dest)["outcomes"]} == {"up to date"}


FOLDERS = {"A": 3, "B": 2}


@pytest.mark.parametrize(
    "kill_at",
    [
        "frame:1",  # mid-encode of the new segment
        "sidecar-written:1",  # the new sidecar is complete but not yet renamed
        "video-renamed:1",  # the new segment's video is in place, its sidecar not yet
    ],
)
def test_a_run_killed_while_it_adds_a_segment_resumes_and_keeps_the_first(
    library, tmp_path, kill_at
):
    fill(library, FOLDERS)
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    first = {f: (identity(dest / f / f"{f}.mp4"), identity(dest / f / f"{f}.xml.gz")) for f in "AB"}
    shoot(library / "A" / "late.jpg", seed=50, minutes=50)
    shoot(library / "A" / "later.jpg", seed=51, minutes=51)

    code, stderr = run_until_killed(
        "backup", library, dest, "--box", BOX, env={"PHOTORESCUE_KILL_AT": kill_at}, tmp=tmp_path
    )
    assert code == -signal.SIGKILL, stderr
    assert identity(dest / "A" / "A.mp4") == first["A"][0]
    assert len(record_of(dest, "A").segments) == 1, "nothing counts before the sidecar's rename"

    run("backup", library, dest, "--box", BOX, check_code=0)

    assert partials(dest) == []
    listing = sorted(p.name for p in (dest / "A").iterdir())
    assert listing == ["A.2.mp4", "A.mp4", "A.xml", "A.xml.gz"]
    assert [s.frames for s in record_of(dest, "A").segments] == [3, 2]
    assert identity(dest / "A" / "A.mp4") == first["A"][0]
    assert identity(dest / "B" / "B.mp4") == first["B"][0], "B was never touched"
    assert run("verify", dest, check_code=0)


def three_segments(library: Path, dest: Path) -> None:
    """One folder backed up in three runs: 3 photos, then 2 more, then 2 more."""
    fill(library, {"Trip": 3})
    run("backup", library, dest, "--box", BOX, check_code=0)
    for seed in (40, 50):
        for i in range(2):
            shoot(library / "Trip" / f"more_{seed}_{i}.jpg", seed=seed + i, minutes=seed + i)
        run("backup", library, dest, "--box", BOX, check_code=0)


def test_compact_merges_segments_without_changing_a_single_pixel(library, tmp_path):
    dest = tmp_path / "backup"
    three_segments(library, dest)
    before = folder_frames(dest, "Trip")
    assert [s.frames for s in record_of(dest, "Trip").segments] == [3, 2, 2]
    restored_before = tmp_path / "before"
    run("restore", dest, restored_before, check_code=0)

    result = run("compact", dest, check_code=0)

    assert "Trip: 3 -> 1 videos" in result.stdout
    record = record_of(dest, "Trip")
    [merged] = record.segments
    listing = sorted(p.name for p in (dest / "Trip").iterdir())
    assert listing == [merged.video, "Trip.xml", "Trip.xml.gz"]
    after = frames(dest / "Trip" / merged.video)
    assert len(after) == len(before) == 7
    for old, new in zip(before, after, strict=True):
        assert np.array_equal(old, new), "packets are copied, never re-encoded"
    with av.open(str(dest / "Trip" / merged.video)) as container:
        pts = sorted(p.pts for p in container.demux(video=0) if p.size)
    assert pts == sorted(p.pts for p in record.photos)
    restored_after = tmp_path / "after"
    run("restore", dest, restored_after, check_code=0)
    for photo in restored_before.rglob("*.jpg"):
        twin = restored_after / photo.relative_to(restored_before)
        assert twin.read_bytes() == photo.read_bytes(), photo.name
    assert run("verify", dest, "--against", library, check_code=0)
    run("backup", library, dest, "--box", BOX, check_code=0)
    assert report(dest)["photos_encoded"] == 0, "a compacted folder is up to date"


@pytest.mark.parametrize("kill_at", ["compact-video:1", "sidecar-written:1", "video-renamed:1"])
def test_compact_killed_at_any_instant_loses_nothing(library, tmp_path, kill_at):
    dest = tmp_path / "backup"
    three_segments(library, dest)
    before = folder_frames(dest, "Trip")

    code, stderr = run_until_killed(
        "compact", dest, env={"PHOTORESCUE_KILL_AT": kill_at}, tmp=tmp_path
    )
    assert code == -signal.SIGKILL, stderr
    assert len(record_of(dest, "Trip").segments) == 3
    for old, new in zip(before, folder_frames(dest, "Trip"), strict=True):
        assert np.array_equal(old, new)

    run("compact", dest, check_code=0)

    assert partials(dest) == []
    assert len(record_of(dest, "Trip").segments) == 1
    assert len(list((dest / "Trip").glob("*.mp4"))) == 1
    for old, new in zip(before, folder_frames(dest, "Trip"), strict=True):
        assert np.array_equal(old, new)


def test_only_compact_forget_removed_drops_a_removed_photo_and_says_how_many(library, tmp_path):
    fill(library, {"Trip": 4})
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    (library / "Trip" / "Trip_1.jpg").unlink()
    run("backup", library, dest, "--box", BOX, check_code=0)

    run("compact", dest, check_code=0)
    assert "Trip_1.jpg" in [p.name for p in record_of(dest, "Trip").photos]

    result = run("compact", dest, "--forget-removed", check_code=0)

    assert "1 removed photos forgotten" in result.stdout
    record = record_of(dest, "Trip")
    assert [p.name for p in record.photos] == ["Trip_0.jpg", "Trip_2.jpg", "Trip_3.jpg"]
    [segment] = record.segments
    assert segment.frames == 3 and len(frames(backup_of(dest, "Trip").video(segment))) == 3
    assert run("verify", dest, "--against", library, check_code=0)


def as_schema_1(dest: Path, stem: str) -> None:
    """Rewrite a one-segment backup of the library's top folder the way 0.1 laid it out: the
    video and sidecar named after the library, one <video>, no segments."""
    record = record_of(dest, "")
    [segment] = record.segments
    (dest / segment.video).rename(dest / f"{stem}.mp4")
    s = segment.settings
    photos = "".join(
        f'<photo name="{p.name}" index="{p.index}" time="{p.time:g}" pts="{p.pts}" '
        f'bytes="{p.bytes}" sha256="{p.sha256}" mtime_ns="{p.mtime_ns}" width="{p.width}" '
        f'height="{p.height}" orientation="{p.orientation}" rect="{p.rect}" />'
        for p in record.photos
    )
    (dest / f"{stem}.xml").write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<photorescue schema="1" tool="0.1.0">'
        f'<folder name="" /><settings box="{s.box}" codec="{s.codec}" quality="{s.quality}" '
        f'keyframes="{s.keyframes}" encoder="libsvtav1" pix_fmt="yuv420p" fps="1" />'
        f"<fingerprint>{record.fingerprint}</fingerprint>{photos}"
        f'<video name="{stem}.mp4" bytes="{segment.bytes}" sha256="{segment.sha256}" '
        f'frames="{segment.frames}" time_base="1/16384" /></photorescue>\n'
    )
    (dest / "library.xml.gz").unlink()
    (dest / "library.xml").unlink()  # 0.3's pointer to it


def test_a_backup_made_by_0_1_is_carried_over_without_encoding_again(library, tmp_path):
    uprights = {f"p{i}.jpg": shoot(library / f"p{i}.jpg", seed=i, minutes=i) for i in range(3)}
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    as_schema_1(dest, "Pictures")
    listed = run("ls", dest, "--json", check_code=0)
    assert json.loads(listed.stdout)[0]["photos"] == 3, "a 0.1 backup reads as it is"

    run("backup", library, dest, "--box", BOX, check_code=0)
    assert report(dest)["photos_encoded"] == 0, "nothing encoded again"
    uprights["new.jpg"] = shoot(library / "new.jpg", seed=9, minutes=9)
    run("backup", library, dest, "--box", BOX, check_code=0)

    record = record_of(dest, "")
    assert [s.video for s in record.segments] == ["Pictures.mp4", "library.2.mp4"]
    out = tmp_path / "restored"
    run("restore", dest, out, check_code=0)
    for name, upright in uprights.items():
        assert restored_ssim(out / name, upright) >= 0.9, name
    assert run("verify", dest, "--against", library, check_code=0)


def test_a_backup_made_by_0_2_is_carried_over_and_its_sidecar_compressed(library, tmp_path):
    fill(library, {"Trip": 3})
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    trip = dest / "Trip"
    plain = gzip.decompress((trip / "Trip.xml.gz").read_bytes()).replace(
        b'schema="%d"' % SCHEMA_VERSION, b'schema="2"'
    )
    (trip / "Trip.xml").write_bytes(plain)  # as 0.2 left it: a plain sidecar, no .gz
    (trip / "Trip.xml.gz").unlink()

    run("backup", library, dest, "--box", BOX, check_code=0)
    assert report(dest)["photos_encoded"] == 0, "nothing encoded again"
    assert (trip / "Trip.xml").read_bytes() == plain, "an up-to-date folder is left as it is"

    shoot(library / "Trip" / "new.jpg", seed=70, minutes=70)
    run("backup", library, dest, "--box", BOX, check_code=0)
    assert report(dest)["photos_encoded"] == 1
    assert b"<moved" in (trip / "Trip.xml").read_bytes(), "0.2 now finds a pointer it refuses"
    assert [s.frames for s in record_of(dest, "Trip").segments] == [3, 1]
    assert run("verify", dest, "--against", library, check_code=0)


def test_photos_moved_into_sub_folders_are_marked_removed_where_they_were(library, tmp_path):
    fill(library, {"Trip": 2})
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    (library / "Trip" / "Day 1").mkdir()
    for photo in list((library / "Trip").glob("*.jpg")):
        photo.rename(library / "Trip" / "Day 1" / photo.name)

    run("backup", library, dest, "--box", BOX, check_code=0)

    assert all(p.removed for p in record_of(dest, "Trip").photos)
    assert len(record_of(dest, "Trip/Day 1").photos) == 2


def test_compact_forget_removed_on_a_folder_the_library_lost_entirely(library, tmp_path):
    fill(library, {"Trip": 3, "Home": 2})
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    shoot(library / "Trip" / "late.jpg", seed=77, minutes=77)
    run("backup", library, dest, "--box", BOX, check_code=0)  # a second segment
    for photo in (library / "Trip").iterdir():
        photo.unlink()
    run("backup", library, dest, "--box", BOX, check_code=0)

    result = run("compact", dest, "--forget-removed")

    assert result.returncode == 0, result.stderr
    assert "4 removed photos forgotten" in result.stdout
    assert record_of(dest, "Trip").photos == () and record_of(dest, "Trip").segments == ()
    assert list((dest / "Trip").glob("*.mp4")) == []
    run("verify", dest, check_code=0)
    out = tmp_path / "restored"
    run("restore", dest, out, check_code=0)
    assert sorted(p.name for p in (out / "Home").iterdir()) == ["Home_0.jpg", "Home_1.jpg"]
