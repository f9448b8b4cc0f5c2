"""The main job end to end: real photos in, real videos and sidecars out, decoded with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from conftest import BOX, content_ssim, fill, frames, inside, outside_is_black, run, shoot
from photorescue_batch.sidecar import read_sidecar


def test_three_folders_give_three_videos_with_a_frame_per_photo(library: Path, tmp_path: Path):
    counts = {"2019/Summer": 3, "2019/Winter": 2, "Phone": 4}
    seed = 0
    for folder, count in counts.items():
        for i in range(count):
            seed += 1
            shoot(library / folder / f"IMG_{i}.jpg", seed=seed, minutes=i)
    dest = tmp_path / "backup"

    result = run("backup", library, dest, "--box", BOX, check_code=0)

    assert "3 folders, 9 photos" in result.stdout
    for folder, count in counts.items():
        name = Path(folder).name
        video = dest / folder / f"{name}.mp4"
        record = read_sidecar(dest / folder / f"{name}.xml.gz")
        assert len(frames(video)) == count
        assert [s.frames for s in record.segments] == [count]
        assert [p.index for p in record.photos] == list(range(count))
        with av.open(str(video)) as container:
            pts = sorted(p.pts for p in container.demux(video=0) if p.size)
        assert pts == [p.pts for p in record.photos], "sidecar pts match the video"
    assert (dest / "photorescue-report.json").is_file()


def test_each_frame_shows_its_photo_inside_the_rect_and_black_outside(library, tmp_path):
    sizes = [(480, 320), (320, 480), (200, 120), (640, 200)]  # landscape, portrait, small, pano
    uprights = [
        shoot(library / f"p{i}.jpg", size=s, seed=i, minutes=i) for i, s in enumerate(sizes)
    ]
    dest = tmp_path / "backup"

    run("backup", library, dest, "--box", BOX, check_code=0)

    record = read_sidecar(dest / "library.xml.gz")
    decoded = frames(dest / "library.mp4")
    for photo, frame in zip(record.photos, decoded, strict=True):
        upright = uprights[int(photo.name[1])]
        rect = photo.rect
        assert frame.shape == (BOX, BOX, 3)
        assert content_ssim(frame, upright, rect) >= 0.9, photo.name
        assert outside_is_black(frame, rect), photo.name
    small = next(p for p in record.photos if p.name == "p2.jpg")
    assert (small.rect.w, small.rect.h) == (200, 120), "small photos are never enlarged"


def test_a_sideways_portrait_comes_out_upright(library, tmp_path):
    upright = shoot(library / "portrait.jpg", size=(300, 450), seed=5, orientation=6)
    stored = Image.open(library / "portrait.jpg")
    assert stored.size == (450, 300), "the camera stored it sideways"
    dest = tmp_path / "backup"

    run("backup", library, dest, "--box", BOX, check_code=0)

    photo = read_sidecar(dest / "library.xml.gz").photos[0]
    frame = frames(dest / "library.mp4")[0]
    assert photo.orientation == 6
    assert photo.rect.h > photo.rect.w
    right = content_ssim(frame, upright, photo.rect)
    assert right >= 0.9
    # Turned any other way, the same photo matches far worse: the test can tell.
    for turn in (Image.Transpose.ROTATE_180, Image.Transpose.FLIP_LEFT_RIGHT):
        assert content_ssim(frame, upright.transpose(turn), photo.rect) < right - 0.25


@pytest.mark.parametrize("name", ["shot.png", "scan.tif", "web.webp", "phone.HEIC", "CAPS.JPEG"])
def test_every_supported_format_lands_in_a_frame(library, tmp_path, name):
    upright = shoot(library / name, seed=11)
    dest = tmp_path / "backup"

    run("backup", library, dest, "--box", BOX, check_code=0)

    record = read_sidecar(dest / "library.xml.gz")
    assert [p.name for p in record.photos] == [name]
    assert not record.kept
    frame = frames(dest / "library.mp4")[0]
    assert content_ssim(frame, upright, record.photos[0].rect) >= 0.85
    assert record.photos[0].tags["Image Make"] == "Canon", "metadata kept for every format"


def test_photos_go_in_capture_order_then_name(library, tmp_path):
    shoot(library / "a_late.jpg", seed=1, minutes=30)
    shoot(library / "b_early.jpg", seed=2, minutes=0)
    shoot(library / "c_middle.jpg", seed=3, minutes=10)
    Image.new("RGB", (64, 48), "red").save(library / "0_no_date.png")
    dest = tmp_path / "backup"

    run("backup", library, dest, "--box", BOX, check_code=0)

    names = [p.name for p in read_sidecar(dest / "library.xml.gz").photos]
    assert names == ["b_early.jpg", "c_middle.jpg", "a_late.jpg", "0_no_date.png"]


def test_config_rule_picks_a_different_box_for_one_folder(library, tmp_path):
    shoot(library / "Family" / "a.jpg", size=(800, 600), seed=1)
    shoot(library / "Other" / "b.jpg", size=(800, 600), seed=2)
    config = tmp_path / "policy.yaml"
    config.write_text(
        "defaults: {box: 256, codec: av1, quality: standard}\n"
        "rules:\n  - match: 'Family/**'\n    box: 384\n"
    )
    dest = tmp_path / "backup"

    run("backup", library, dest, "--config", config, check_code=0)

    assert read_sidecar(dest / "Family" / "Family.xml.gz").segments[0].settings.box == 384
    assert read_sidecar(dest / "Other" / "Other.xml.gz").segments[0].settings.box == 256
    assert frames(dest / "Family" / "Family.mp4")[0].shape == (384, 384, 3)
    assert frames(dest / "Other" / "Other.mp4")[0].shape == (256, 256, 3)


def test_a_bad_config_exits_2_naming_file_line_and_key(library, tmp_path):
    shoot(library / "a.jpg")
    config = tmp_path / "bad.yaml"
    config.write_text("defaults:\n  box: 2048\nrules:\n  - match: 'x/**'\n    bx: 3\n")
    dest = tmp_path / "backup"

    result = run("backup", library, dest, "--config", config)

    assert result.returncode == 2
    assert f"{config}:5" in result.stderr and "bx" in result.stderr
    assert not dest.exists(), "nothing is written before the config is accepted"


def test_a_library_without_photos_keeps_its_files_and_succeeds(library, tmp_path):
    (library / "notes.txt").write_text("no photos here")
    result = run("backup", library, tmp_path / "backup", check_code=0)
    assert "1 folders, 0 photos (0 encoded by this run), 1 files kept" in result.stdout
    assert (tmp_path / "backup" / "library.kept" / "notes.txt").read_text() == "no photos here"


def test_dry_run_lists_folders_and_writes_nothing(library, tmp_path):
    shoot(library / "A" / "a.jpg")
    dest = tmp_path / "backup"
    result = run("backup", library, dest, "--dry-run", check_code=0)
    assert "A\t1 photos" in result.stdout and "to do" in result.stdout
    assert not dest.exists()


def test_version_names_the_pillow_in_use():
    result = run("--version", check_code=0)
    assert "photorescue" in result.stdout and "Pillow" in result.stdout


def test_help_reads_like_a_unix_tool():
    result = run("backup", "--help", check_code=0)
    for option in ("LIBRARY", "DEST", "--config", "--jobs", "--dry-run", "--box", "--codec"):
        assert option in result.stdout
    assert "--memory" in result.stdout


def test_memory_takes_a_size_and_a_budget_below_every_photo_still_backs_them_up(library, tmp_path):
    # That such photos really run one at a time is test_photo.py's, on the pool itself.
    fill(library, {"A": 4})
    Image.new("RGB", (1200, 900), (30, 90, 150)).save(library / "A" / "scan.png")
    run("backup", library, tmp_path / "b", "--box", BOX, "--memory", "1K", check_code=0)
    assert len(read_sidecar(tmp_path / "b" / "A" / "A.xml.gz").photos) == 5
    refused = run("backup", library, tmp_path / "c", "--memory", "lots")
    assert refused.returncode == 2
    assert "--memory" in refused.stderr and "not a size" in refused.stderr


def test_frames_are_black_letterboxed_for_every_preset(library, tmp_path):
    upright = shoot(library / "a.jpg", size=(400, 240), seed=3)
    for codec in ("hevc", "h264", "prores"):
        dest = tmp_path / codec
        run("backup", library, dest, "--box", BOX, "--codec", codec, check_code=0)
        record = read_sidecar(dest / "library.xml.gz")
        [segment] = record.segments
        video = dest / segment.video
        assert video.suffix == (".mov" if codec == "prores" else ".mp4")
        if codec == "hevc":
            with av.open(str(video)) as container:
                assert container.streams.video[0].codec_context.codec_tag == "hvc1", "Apple"
        [frame] = frames(video)
        rect = record.photos[0].rect
        assert content_ssim(frame, upright, rect) >= 0.9, codec
        assert outside_is_black(frame, rect), codec
        assert inside(frame, rect).mean() > 20
