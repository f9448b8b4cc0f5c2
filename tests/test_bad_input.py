"""Bad input: every photo ends up in a frame or as its untouched original, with one clear line."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import BOX, content_ssim, frames, run, shoot, snapshot
from photorescue_batch.sidecar import read_sidecar

NOT_ROOT = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def backup(library: Path, dest: Path, expect: int):
    result = run("backup", library, dest, "--box", BOX)
    assert result.returncode == expect, result.stderr
    return result, read_sidecar(dest / "library.xml.gz")


def assert_kept(library: Path, dest: Path, name: str, result, record, reason: str):
    """The photo is kept byte for byte, in the sidecar, and named on stderr."""
    kept = dest / "library.kept" / name
    assert kept.read_bytes() == (library / name).read_bytes()
    assert kept.stat().st_mtime_ns == (library / name).stat().st_mtime_ns
    [entry] = [u for u in record.kept if u.name == name]
    assert entry.stored == f"library.kept/{name}"
    assert reason in entry.reason
    lines = [line for line in result.stderr.splitlines() if name in line]
    assert len(lines) == 1 and reason in lines[0], result.stderr
    assert name not in [p.name for p in record.photos]
    assert "good.jpg" in [p.name for p in record.photos], "the run went on"


@pytest.fixture
def with_good_photo(library: Path) -> Path:
    shoot(library / "good.jpg", seed=1)
    return library


def test_zero_byte_file(with_good_photo, tmp_path):
    (with_good_photo / "empty.jpg").write_bytes(b"")
    result, record = backup(with_good_photo, tmp_path / "b", expect=1)
    assert_kept(with_good_photo, tmp_path / "b", "empty.jpg", result, record, "empty file")


def test_truncated_jpeg(with_good_photo, tmp_path):
    whole = (with_good_photo / "good.jpg").read_bytes()
    (with_good_photo / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    result, record = backup(with_good_photo, tmp_path / "b", expect=1)
    assert_kept(with_good_photo, tmp_path / "b", "cut.jpg", result, record, "truncated")


def test_text_file_named_jpg(with_good_photo, tmp_path):
    (with_good_photo / "notes.jpg").write_text("shopping list: milk, eggs\n")
    result, record = backup(with_good_photo, tmp_path / "b", expect=1)
    assert_kept(
        with_good_photo, tmp_path / "b", "notes.jpg", result, record, "not a readable image"
    )


def test_unreadable_file(with_good_photo, tmp_path):
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: root reads chmod 000 files anyway")
    locked = with_good_photo / "locked.jpg"
    shoot(locked, seed=2)
    locked.chmod(0)
    prefix = NOT_ROOT if os.geteuid() == 0 else []
    dest = tmp_path / "b"
    result = run("backup", with_good_photo, dest, "--box", BOX, prefix=prefix)
    assert result.returncode == 1, result.stderr
    record = read_sidecar(dest / "library.xml.gz")
    assert record.kept == ()  # "kept" means its bytes are in DEST: these are not
    [entry] = record.skipped
    assert entry.name == "locked.jpg" and "Permission denied" in entry.reason and entry.retry
    assert result.stderr.count("locked.jpg") == 1 and "Permission denied" in result.stderr


def test_corrupt_exif_keeps_the_photo_and_notes_the_problem(with_good_photo, tmp_path):
    upright = shoot(with_good_photo / "odd.jpg", seed=3)
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", exif=b"Exif\x00\x00" + b"XX\x00\x2a" + os.urandom(40))
    (with_good_photo / "odd.jpg").write_bytes(buffer.getvalue())
    result, record = backup(with_good_photo, tmp_path / "b", expect=0)
    [photo] = [p for p in record.photos if p.name == "odd.jpg"]
    assert photo.problem and "EXIF" in photo.problem
    assert photo.exif, "the raw block is kept as it was, for whoever can read it"
    assert "odd.jpg" in result.stderr and "EXIF" in result.stderr


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("cmyk.jpg", lambda rgb: rgb.convert("CMYK")),
        ("grey.jpg", lambda rgb: rgb.convert("L")),
        ("deep.png", lambda rgb: Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 257)),
        ("palette.png", lambda rgb: rgb.convert("P", palette=Image.Palette.ADAPTIVE)),
    ],
)
def test_unusual_pixel_formats_become_frames(with_good_photo, tmp_path, name, make):
    from photorescue_batch.demo import photo_like

    rgb = photo_like(480, 320, seed=4)
    image = make(rgb)
    options = {"transparency": 0} if name == "palette.png" else {}
    image.save(with_good_photo / name, **options)
    _, record = backup(with_good_photo, tmp_path / "b", expect=0)
    [photo] = [p for p in record.photos if p.name == name]
    frame = frames(tmp_path / "b" / "library.mp4")[photo.index]
    reference = rgb if name != "deep.png" else rgb.convert("L").convert("RGB")
    if name == "grey.jpg":
        reference = rgb.convert("L").convert("RGB")
    if name == "palette.png":  # its transparent colour goes onto a background that shows it
        assert photo.flattened in ("white", "black")
        reference = Image.new("RGB", rgb.size, photo.flattened)
        with Image.open(with_good_photo / name) as saved:
            rgba = saved.convert("RGBA")
        reference.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    assert content_ssim(frame, reference, photo.rect) >= 0.8, name


def test_decompression_bomb_is_refused_but_a_real_200_megapixel_photo_goes_through(
    with_good_photo, tmp_path
):
    Image.MAX_IMAGE_PIXELS, saved = None, Image.MAX_IMAGE_PIXELS
    try:
        Image.new("1", (40000, 40000)).save(with_good_photo / "bomb.png")  # 1.6 GP in ~200 KB
        big = Image.linear_gradient("L").resize((16384, 12208)).convert("RGB")
        big.save(with_good_photo / "huge.jpg", quality=80)  # 200 MP
        del big
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    result, record = backup(with_good_photo, tmp_path / "b", expect=1)
    assert_kept(with_good_photo, tmp_path / "b", "bomb.png", result, record, "bomb")
    [huge] = [p for p in record.photos if p.name == "huge.jpg"]
    assert (huge.width, huge.height) == (16384, 12208)


def test_names_with_spaces_non_ascii_and_a_newline(with_good_photo, tmp_path):
    names = ["with space.jpg", "Zürich café 東京.jpg", "two\nlines.jpg"]
    for i, name in enumerate(names):
        shoot(with_good_photo / name, seed=10 + i, minutes=i + 1)
    _, record = backup(with_good_photo, tmp_path / "b", expect=0)
    assert sorted(p.name for p in record.photos) == sorted(["good.jpg", *names])
    assert len(frames(tmp_path / "b" / "library.mp4")) == 4


def test_an_empty_folder_makes_no_job_and_a_folder_without_photos_keeps_its_files(
    library, tmp_path
):
    shoot(library / "Photos" / "a.jpg")
    (library / "Empty").mkdir()
    (library / "Documents").mkdir()
    (library / "Documents" / "taxes.pdf").write_bytes(b"%PDF-1.4")
    dest = tmp_path / "b"
    result = run("backup", library, dest, "--box", BOX, check_code=0)
    assert "2 folders, 1 photos (1 encoded by this run), 1 files kept" in result.stdout
    assert sorted(p.name for p in dest.iterdir()) == [
        ".photorescue.lock",
        "Documents",
        "Photos",
        "photorescue-report.json",
    ]
    assert (dest / "Documents" / "Documents.kept" / "taxes.pdf").read_bytes() == b"%PDF-1.4"


def test_the_library_is_never_written(library, tmp_path):
    shoot(library / "A" / "a.jpg", seed=1)
    shoot(library / "A" / "b.jpg", seed=2, orientation=6)
    (library / "A" / "bad.jpg").write_text("not a photo")
    (library / "A" / "empty.png").write_bytes(b"")
    (library / "B").mkdir()
    before = snapshot(library)
    dest = library / "backup-inside"  # DEST inside LIBRARY is allowed and skipped by the walk
    run("backup", library, dest, "--box", BOX, check_code=1)
    run("backup", library, dest, "--box", BOX, check_code=1)  # and again, as a resumed run
    after = {k: v for k, v in snapshot(library).items() if not k.startswith("backup-inside")}
    before["."] = after["."] = ("dir", 0)  # LIBRARY's own entry gains the DEST we were given
    assert after == before
