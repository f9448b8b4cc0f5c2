"""Our own scene cuts: similar photos are predicted, unrelated photos each get a keyframe."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from conftest import keyframes, run, shoot, shoot_burst
from photorescue_batch.catalog import load_folders
from photorescue_batch.decode import iter_frames
from photorescue_batch.encode import MAX_KEYFRAME_INTERVAL, open_encoder
from photorescue_batch.photo import fit_photo
from photorescue_batch.similarity import ssim

BOX = 384


def backup_and_measure(library: Path, dest: Path, *options: str) -> tuple[int, float, list[bool]]:
    """Video bytes, minimum content SSIM, and which frames are keyframes."""
    run("backup", library, dest, "--box", BOX, *options, check_code=0)
    [folder] = list(load_folders(dest, print))
    [segment] = folder.record.segments
    video = folder.video(segment)
    scores = []
    for photo, frame in zip(folder.record.photos, iter_frames(video), strict=True):
        reference = fit_photo(library / photo.name, photo.orientation, BOX)
        r = photo.rect
        content = np.frombuffer(reference.content, np.uint8).reshape(r.h, r.w, 3)
        scores.append(ssim(frame[r.y : r.y + r.h, r.x : r.x + r.w], content))
    return video.stat().st_size, min(scores), keyframes(video)


def test_a_burst_is_smaller_than_intra_only_at_no_lower_minimum_ssim(library, tmp_path):
    base = shoot(tmp_path / "base.jpg", size=(900, 600), seed=3)
    for i in range(8):  # the same scene, shifted a little and re-exposed, as a burst is
        shot = base.transform(base.size, Image.Transform.AFFINE, (1, 0, 3 * i, 0, 1, i))
        shot = shot.point(lambda v, i=i: min(255, int(v * (1 + 0.02 * i))))
        shot.save(library / f"burst_{i}.jpg", quality=92)

    # At the same level: the burst's photos are predicted by a random-access encoder, the
    # intra-only run codes each one with the all-intra encoder.
    burst_bytes, burst_min, burst_keys = backup_and_measure(library, tmp_path / "scene")
    intra_bytes, intra_min, intra_keys = backup_and_measure(
        library, tmp_path / "intra", "--keyframes", "intra"
    )

    assert all(intra_keys) and len(intra_keys) == 8
    assert burst_keys[0] and sum(burst_keys) < 8, "similar photos are predicted"
    assert burst_bytes < 0.6 * intra_bytes, (burst_bytes, intra_bytes)
    assert burst_min >= intra_min, (burst_min, intra_min)


def test_unrelated_photos_each_get_a_keyframe(library, tmp_path):
    for i in range(6):
        shoot(library / f"{i}.jpg", size=(600, 400), seed=100 + i, minutes=i)
    _, _, keys = backup_and_measure(library, tmp_path / "b")
    assert keys == [True] * 6


def test_a_long_burst_still_gets_a_keyframe_every_interval(library, tmp_path):
    base = shoot(tmp_path / "base.jpg", size=(600, 400), seed=9)
    for i in range(2 * MAX_KEYFRAME_INTERVAL + 2):
        base.transform(base.size, Image.Transform.AFFINE, (1, 0, i % 4, 0, 1, 0)).save(
            library / f"{i:03d}.jpg", quality=90
        )
    _, _, keys = backup_and_measure(library, tmp_path / "b")
    positions = [i for i, key in enumerate(keys) if key]
    assert positions[0] == 0
    gaps = [b - a for a, b in zip(positions, [*positions[1:], len(keys)], strict=True)]
    assert max(gaps) <= MAX_KEYFRAME_INTERVAL


def test_a_greyscale_mirrored_or_turned_copy_is_never_predicted_from_its_original(
    library, tmp_path
):
    colour = shoot(library / "a.jpg", size=(600, 400), seed=31, minutes=0)
    colour.convert("L").save(library / "b-grey.jpg", quality=92)
    colour.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(library / "c-mirror.jpg", quality=92)
    colour.transpose(Image.Transpose.ROTATE_180).save(library / "d-turned.jpg", quality=92)
    # The copies have no capture time, so they follow their original (by name) in the video.

    _, _, keys = backup_and_measure(library, tmp_path / "b")

    assert keys == [True, True, True, True]
    out = tmp_path / "restored"
    run("restore", tmp_path / "b", out, check_code=0)
    with Image.open(out / "b-grey.jpg") as grey:
        channels = np.asarray(grey.convert("RGB"), dtype=np.float32)
    tint = np.abs(channels - channels.mean(axis=2, keepdims=True)).mean()
    assert tint < 1.5, "a greyscale copy comes back grey, not tinted by its colour original"


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs Debian's ffmpeg")
def test_ffmpeg_decodes_every_frame_of_intra_coded_photos_and_predicted_bursts(library, tmp_path):
    """Unrelated photos come from the all-intra encoder, bursts from a predicting one; their
    packets share one track, and a decoder that is not ours must decode it exactly as we do."""
    shoot(library / "a.jpg", seed=1, minutes=0)
    shoot_burst([library / f"b{i}.jpg" for i in range(5)], seed=2, minutes=10)
    shoot(library / "c.jpg", seed=3, minutes=20)
    shoot(library / "d.jpg", seed=4, minutes=30)
    shoot_burst([library / f"e{i}.jpg" for i in range(3)], seed=5, minutes=40)
    shoot(library / "f.jpg", seed=6, minutes=50)
    dest = tmp_path / "b"
    run("backup", library, dest, "--box", BOX, check_code=0)
    video = dest / "library.mp4"
    assert keyframes(video) == [True, True, *[False] * 4, True, True, True, False, False, True]

    with av.open(str(video)) as container:
        native = container.streams.video[0].codec_context.pix_fmt  # as decoded, not converted
        ours = b"".join(bytes(f.to_ndarray()) for f in container.decode(video=0))
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", video, "-f", "rawvideo", "-pix_fmt", native, "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    assert decoded.stderr == b"", decoded.stderr.decode()
    assert native == "yuv420p10le"
    assert len(decoded.stdout) == 12 * BOX * BOX * 3, "every frame (4:2:0, 2 bytes a sample)"
    assert decoded.stdout == ours, "and bit for bit the frames PyAV decodes"

    # The run's report says what SVT-AV1 really ran with, for each of the two encoders.
    encoders = json.loads((dest / "photorescue-report.json").read_text())["encoders"]
    assert any("all intra" in line for line in encoders["intra"]), encoders
    assert any("random access" in line for line in encoders["bursts"]), encoders


@pytest.mark.parametrize(
    "options, says",
    [
        ({"crf": "30", "svtav1-params": "no-such-key=1"}, "Invalid argument"),
        ({"crf": "30", "no-such-option": "1"}, "did not take the options"),
        ({"crf": "30", "svtav1-params": "pred-struct=1:tune=4"}, "Invalid argument"),
    ],
)
def test_an_encoder_option_that_is_not_taken_is_an_error(options, says):
    context = av.CodecContext.create("libsvtav1", "w")
    context.width = context.height = 64
    context.pix_fmt = "yuv420p"
    context.time_base = Fraction(1, 1)
    with pytest.raises((ValueError, av.FFmpegError), match=says):
        open_encoder(context, options, "test")
