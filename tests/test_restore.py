"""Restore, verify and ls: the backup gives the photos back, and can prove it is intact."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import BOX, as_a_user, letterbox_reference, run, shoot
from photorescue_batch.catalog import load_folders
from photorescue_batch.decode import DecodeStats, frames_at
from photorescue_batch.demo import TAG_ORIENTATION
from photorescue_batch.encode import MAX_KEYFRAME_INTERVAL
from photorescue_batch.metadata import read_metadata
from photorescue_batch.similarity import ssim

SIZE_TAGS = {"EXIF ExifImageWidth", "EXIF ExifImageLength", "Image Orientation"}


@pytest.fixture
def backed_up(library: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, Image.Image]]:
    uprights = {
        "Trip/a.jpg": shoot(library / "Trip" / "a.jpg", seed=1, minutes=1),
        "Trip/portrait.jpg": shoot(
            library / "Trip" / "portrait.jpg", size=(300, 450), seed=2, minutes=2, orientation=6
        ),
        "Trip/b.JPEG": shoot(library / "Trip" / "b.JPEG", seed=3, minutes=3, make="NIKON"),
        "Phone/shot.png": shoot(library / "Phone" / "shot.png", seed=4),
        "Phone/live.heic": shoot(library / "Phone" / "live.heic", seed=5, minutes=5),
        "top.jpg": shoot(library / "top.jpg", seed=6),
    }
    (library / "Phone" / "broken.jpg").write_text("not a photo")
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=1)
    return library, dest, uprights


def _exif_without(tags: dict[str, str], drop: set[str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k not in drop}


def test_round_trip_gives_every_photo_back_upright_with_its_name_mtime_and_exif(
    backed_up, tmp_path
):
    library, dest, uprights = backed_up
    out = tmp_path / "restored"

    result = run("restore", dest, out, check_code=0)

    assert "7 photos restored" in result.stdout
    for relative, upright in uprights.items():
        original = library / relative
        restored = out / relative
        if original.suffix.lower() not in (".jpg", ".jpeg"):
            restored = restored.with_suffix(".jpg")
        assert restored.stat().st_mtime_ns == original.stat().st_mtime_ns, relative
        before, after = read_metadata(original), read_metadata(restored)
        for tag in ("EXIF DateTimeOriginal", "Image Make", "Image Model"):
            assert after.tags[tag] == before.tags[tag], (relative, tag)
        assert after.orientation == 1
        assert _exif_without(after.tags, SIZE_TAGS) == _exif_without(before.tags, SIZE_TAGS)
        if original.suffix.lower() in (".jpg", ".jpeg"):
            differing = sum(a != b for a, b in zip(before.exif, after.exif, strict=True))
            assert differing <= (1 if before.orientation != 1 else 0), "byte for byte but one"
        with Image.open(restored) as image:
            assert image.format == "JPEG"
            pixels = np.asarray(image.convert("RGB"))
        reference = letterbox_reference(upright, _rect(dest, relative))
        assert pixels.shape == reference.shape, "its size equals the rect"
        assert ssim(pixels, reference) >= 0.9, relative
    names = (out / "photorescue-restored-names.tsv").read_text().splitlines()
    assert sorted(names) == ["Phone/live.jpg\tPhone/live.heic", "Phone/shot.jpg\tPhone/shot.png"]
    kept = out / "Phone" / "broken.jpg"
    assert kept.read_bytes() == (library / "Phone" / "broken.jpg").read_bytes()


def _rect(dest: Path, relative: str):
    for folder in load_folders(dest, print):
        for photo in folder.record.photos:
            path = f"{folder.record.folder}/{photo.name}" if folder.record.folder else photo.name
            if path == relative:
                return photo.rect
    raise KeyError(relative)


def test_restore_single_photos_and_folders_and_name_what_is_not_there(backed_up, tmp_path):
    _, dest, _ = backed_up
    out = tmp_path / "restored"
    result = run("restore", dest, out, "Trip/portrait.jpg", "Phone", "Nope/x.jpg")
    assert result.returncode == 1
    assert "Nope/x.jpg: not in the backup" in result.stderr
    restored = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert restored == [
        "Phone/broken.jpg",
        "Phone/live.jpg",
        "Phone/shot.jpg",
        "Trip/portrait.jpg",
        "photorescue-restored-names.tsv",
    ]
    with Image.open(out / "Trip" / "portrait.jpg") as image:
        assert image.height > image.width
        assert image.getexif().get(TAG_ORIENTATION) == 1


def test_restore_never_overwrites_without_force(backed_up, tmp_path):
    _, dest, _ = backed_up
    out = tmp_path / "restored"
    (out / "Trip").mkdir(parents=True)
    (out / "Trip" / "a.jpg").write_text("mine")
    result = run("restore", dest, out, "Trip/a.jpg")
    assert result.returncode == 1 and "use --force" in result.stderr
    assert (out / "Trip" / "a.jpg").read_text() == "mine"
    run("restore", dest, out, "Trip/a.jpg", "--force", check_code=0)
    assert (out / "Trip" / "a.jpg").read_bytes()[:2] == b"\xff\xd8"


@pytest.mark.parametrize(
    ("field", "evil"),
    [
        ("photo", "../../escaped.jpg"),
        ("photo", "/tmp/escaped-absolute.jpg"),
        ("photo", "sub/../../escaped.jpg"),
        ("folder", "../../outside"),
        ("folder", "/etc"),
        ("photo", "nul\x00.jpg"),
        ("video", "../../../escaped.mp4"),
    ],
)
def test_a_tampered_sidecar_cannot_make_restore_write_outside_out(backed_up, tmp_path, field, evil):
    library, dest, _ = backed_up
    sidecar = dest / "Trip" / "Trip.xml.gz"
    text = gzip.decompress(sidecar.read_bytes()).decode()
    if field == "photo":
        encoded = evil.replace("\x00", "&#0;")
        text = text.replace('name="a.jpg"', f'name="{encoded}"')
    elif field == "video":
        text = text.replace('video="Trip.mp4"', f'video="{evil}"')
    else:
        text = text.replace('<folder name="Trip"', f'<folder name="{evil}"')
    sidecar.write_bytes(gzip.compress(text.encode()))
    out = tmp_path / "deep" / "er" / "restored"
    before = {p for p in tmp_path.rglob("*")}

    result = run("restore", dest, out)

    assert result.returncode in (1, 2)
    written = {p for p in tmp_path.rglob("*")} - before
    assert all(out in p.parents or p == out or p in out.parents for p in written), written
    assert not Path("/tmp/escaped-absolute.jpg").exists()
    assert "Traceback" not in result.stderr
    if "\x00" not in evil:
        assert "unsafe name" in result.stderr or "outside" in result.stderr
    checked = run("verify", dest, "--against", library)
    assert checked.returncode == 1 and "Traceback" not in checked.stderr


def test_restoring_one_photo_decodes_only_back_to_its_keyframe(library, tmp_path):
    base = shoot(library / "burst" / "000.jpg", seed=1)
    for i in range(1, 40):  # a long burst: only the keyframe interval forces keyframes
        shifted = base.transform(base.size, Image.Transform.AFFINE, (1, 0, i % 3, 0, 1, 0))
        shifted.save(library / "burst" / f"{i:03d}.jpg", quality=90)
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    [folder] = list(load_folders(dest, print))
    [segment] = folder.record.segments
    video, timing = folder.video(segment), (segment.fps, segment.time_base)
    target = folder.record.photos[37]

    stats = DecodeStats()
    [(pts, _)] = list(frames_at(video, [target.pts], *timing, stats))

    assert pts == target.pts
    assert stats.frames_decoded <= MAX_KEYFRAME_INTERVAL
    whole = DecodeStats()
    every = [p.pts for p in folder.record.photos]
    assert len(list(frames_at(video, every, *timing, whole))) == 40
    assert whole.frames_decoded == 40


def test_verify_passes_a_good_backup_and_reports_quality_against_the_library(backed_up):
    library, dest, _ = backed_up
    result = run("verify", dest, "--against", library, check_code=0)
    assert "3 folders checked, 0 bad, 0 library files not in the backup" in result.stdout
    trip = next(line for line in result.stdout.splitlines() if " Trip " in f" {line} ")
    mean = float(trip.split("SSIM mean ")[1].split()[0])
    assert mean >= 0.9


def test_verify_names_a_folder_whose_video_has_one_byte_flipped(backed_up):
    _, dest, _ = backed_up
    video = dest / "Trip" / "Trip.mp4"
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0x01
    video.write_bytes(bytes(data))

    result = run("verify", dest)

    assert result.returncode == 1
    bad = [line for line in result.stdout.splitlines() if line.startswith("BAD")]
    assert len(bad) == 1 and "Trip" in bad[0]
    assert "checksum" in result.stdout


def test_verify_lists_library_photos_missing_from_or_changed_since_the_backup(backed_up):
    library, dest, _ = backed_up
    shoot(library / "Trip" / "new.jpg", seed=50)
    shoot(library / "Trip" / "b.JPEG", seed=51)  # rewritten with other content

    result = run("verify", dest, "--against", library)

    assert result.returncode == 1
    assert "MISSING  Trip/new.jpg" in result.stdout
    assert "changed: b.JPEG: changed in the library since the backup" in result.stdout


def test_verify_reports_a_sidecar_that_does_not_parse(backed_up):
    _, dest, _ = backed_up
    (dest / "Phone" / "Phone.xml.gz").write_bytes(gzip.compress(b"<photorescue><oops"))
    result = run("verify", dest)
    assert result.returncode == 1 and "Phone.xml.gz" in result.stdout


def test_ls_lists_folders_as_a_table_and_as_json(backed_up):
    _, dest, _ = backed_up
    table = run("ls", dest, check_code=0).stdout
    assert "Trip" in table and "Phone" in table and "av1" in table
    rows = {
        row["folder"]: row for row in json.loads(run("ls", dest, "--json", check_code=0).stdout)
    }
    assert set(rows) == {".", "Phone", "Trip"}
    assert rows["Trip"]["photos"] == 3
    assert rows["Phone"]["kept"] == 1 and rows["Phone"]["photos"] == 2
    assert rows["Trip"]["ratio"] == pytest.approx(
        rows["Trip"]["original_bytes"] / rows["Trip"]["backup_bytes"], abs=0.05
    )
    assert rows["Trip"]["box"] == BOX


def test_restore_never_writes_two_photos_to_one_name_and_copes_with_odd_names(library, tmp_path):
    shoot(library / "Scans" / "scan.png", seed=1)
    shoot(library / "Scans" / "scan.tif", seed=2)
    long_png, long_tif = "x" * 251 + ".png", "x" * 251 + ".tif"  # 255 bytes, the most ext4 takes
    shoot(library / "Scans" / long_png, seed=3)
    shoot(library / "Scans" / long_tif, seed=4)  # its second name, with ~2, cannot exist
    shoot(library / "Scans" / "back\\slash.jpg", seed=5)
    dest, out = tmp_path / "backup", tmp_path / "restored"

    backup = run("backup", library, dest, "--box", BOX, check_code=0)
    assert "back\\slash.jpg: backed up, but \\ cannot be in a file name on Windows" in backup.stderr

    result = run("restore", dest, out)

    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if "cannot write" in line]
    assert "x" * 251 + "~2.jpg" in line and "name too long" in line.lower()
    assert "4 photos restored" in result.stdout
    restored = sorted(p.name for p in (out / "Scans").iterdir())
    assert restored == sorted(["back\\slash.jpg", "scan.jpg", "scan~2.jpg", "x" * 251 + ".jpg"])
    names = (out / "photorescue-restored-names.tsv").read_text().splitlines()
    assert {"Scans/scan.jpg\tScans/scan.png", "Scans/scan~2.jpg\tScans/scan.tif"} <= set(names)
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]


def test_restore_into_a_folder_the_user_cannot_write_says_so_per_file(library, tmp_path):
    shoot(library / "A" / "IMG_1.jpg", seed=1)
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    out = tmp_path / "not-mine"
    out.mkdir(mode=0o755)  # root's: the user may read it, not write it
    result = run("restore", dest, out, user=as_a_user(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Permission denied" in result.stderr
