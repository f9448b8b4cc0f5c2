"""Resume: kills at any instant, Ctrl-C, a full disk, and incremental reruns."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest
from joblib import Parallel

from conftest import (
    BOX,
    assert_all_done_once,
    command,
    fill,
    frames,
    identity,
    partials,
    record_of,
    run,
    run_until_killed,
    shoot,
    wait_until,
)
from photorescue_batch.config import load_policy
from photorescue_batch.pipeline import PART_PHOTOS, converted_photos, run_started, write_folder
from photorescue_batch.plan import plan_folder
from photorescue_batch.transaction import FolderUnwritable, committed
from photorescue_batch.walk import walk_library

FOLDERS = {"A": 3, "B": 4, "C": 2}


@pytest.fixture
def three_folders(library: Path) -> Path:
    return fill(library, FOLDERS)


def outputs(dest: Path) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """Each finished folder's video and sidecar identities."""
    done = {}
    for folder in FOLDERS:
        video, sidecar = dest / folder / f"{folder}.mp4", dest / folder / f"{folder}.xml.gz"
        if sidecar.exists():
            done[folder] = (identity(video), identity(sidecar))
    return done


def assert_complete(library: Path, dest: Path) -> None:
    assert_all_done_once(library, dest, BOX, FOLDERS)


@pytest.mark.parametrize(
    "kill_at",
    [
        "frame:2",  # mid-encode of the first folder
        "frame:5",  # mid-encode of the second folder, the first one finished
        "folder-done:1",  # between folders
        "sidecar-written:2",  # the sidecar is complete but not yet renamed
        "video-renamed:2",  # the new video is in place, its sidecar not yet
    ],
)
def test_a_run_killed_at_any_instant_resumes_without_redoing_finished_folders(
    three_folders, tmp_path, kill_at
):
    dest = tmp_path / "backup"
    code, stderr = run_until_killed(
        "backup",
        three_folders,
        dest,
        "--box",
        BOX,
        env={"PHOTORESCUE_KILL_AT": kill_at},
        tmp=tmp_path,
    )
    assert code == -signal.SIGKILL, stderr
    finished_before = outputs(dest)

    run("backup", three_folders, dest, "--box", BOX, check_code=0)

    assert_complete(three_folders, dest)
    after = outputs(dest)
    for folder, ids in finished_before.items():
        assert after[folder] == ids, f"{folder} was finished before the kill and was redone"


def test_a_kill_after_a_random_delay_also_resumes(three_folders, tmp_path):
    dest = tmp_path / "backup"
    for delay in (0.3, 1.2, 2.0):
        process = subprocess.Popen(
            command("backup", three_folders, dest, "--box", BOX),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    run("backup", three_folders, dest, "--box", BOX, check_code=0)
    assert_complete(three_folders, dest)


def test_ctrl_c_stops_the_workers_and_says_how_to_resume(library, tmp_path):
    for i in range(12):
        shoot(library / "Big" / f"{i}.jpg", seed=i)
    dest = tmp_path / "backup"
    # Ctrl-C reaches the whole process group, workers included, after the third frame.
    process = subprocess.Popen(
        command("backup", library, dest, "--box", BOX, "--jobs", 2),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PHOTORESCUE_KILL_AT": "frame:3", "PHOTORESCUE_KILL_SIGNAL": "INT"},
        # As from a terminal: a test runner started in the background inherits SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    assert "interrupted — run the same command again to resume" in stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    wait_until(lambda: live_processes_in_group(process.pid) == [], 30, "the workers to exit")
    assert partials(dest) == []
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert report["finished"] is False
    run("backup", library, dest, "--box", BOX, check_code=0)
    assert sum(s.frames for s in record_of(dest, "Big").segments) == 12


def live_processes_in_group(pgid: int) -> list[str]:
    """Processes of the group that are still running (zombies, already dead, do not count)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            alive.append(stat.parent.name)
    return alive


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_stops_with_exit_2_and_a_rerun_finishes(library, tmp_path):
    shoot(library / "A" / "a.jpg", seed=1)
    for i in range(8):
        shoot(library / "B" / f"{i}.jpg", size=(640, 480), seed=10 + i)
    dest = tmp_path / "backup"
    # No file in DEST may grow past 12 KB: A's fits, B's video does not. A real write error
    # (EFBIG), as a full disk gives ENOSPC.
    full = run(
        "backup", library, dest, "--box", BOX, "--jobs", 1, preexec_fn=_limit_file_size(12_000)
    )

    assert full.returncode == 2, full.stderr
    assert "DEST is full" in full.stderr and "run again" in full.stderr
    assert "Traceback" not in full.stderr
    assert (dest / "A" / "A.xml.gz").exists()
    assert not (dest / "B" / "B.xml.gz").exists(), "an incomplete folder is never marked done"
    assert partials(dest) == []
    a_before = identity(dest / "A" / "A.mp4")

    run("backup", library, dest, "--box", BOX, check_code=0)

    assert identity(dest / "A" / "A.mp4") == a_before
    assert len(frames(dest / "B" / "B.mp4")) == 8


class _Quiet:
    def folder_started(self, job: object) -> None: ...
    def files_done(self, count: int) -> None: ...
    def problem(self, message: str) -> None: ...


def test_a_write_error_after_the_video_is_finished_still_leaves_no_partial(library, tmp_path):
    fill(library, {"A": 3})
    dest = tmp_path / "backup"
    [job] = walk_library(library, dest, load_policy().with_overrides(box=BOX))
    now = run_started()
    plan = plan_folder(job, dest, now)
    with Parallel(n_jobs=1, return_as="generator") as pool:
        photos = converted_photos(job, plan.todo, pool, 2)
        backup = write_folder(job, dest, plan, photos, _Quiet(), now)
    assert partials(dest), "written, not yet committed"
    # The sidecar's descriptor goes away under it: its last write fails after the encoder
    # has been flushed and closed, as a disk that fills at the very end would.
    os.close(backup.transaction.sidecar.fileno())

    with pytest.raises(FolderUnwritable, match="cannot write the backup"):
        backup.finish()

    assert partials(dest) == []
    assert committed(job, dest) is None


def test_a_rerun_reads_no_pixels_of_done_folders(three_folders, tmp_path):
    dest = tmp_path / "backup"
    run("backup", three_folders, dest, "--box", BOX, check_code=0)
    before = outputs(dest)
    # Overwrite every photo with garbage of the same size and mtime: a rerun that read the
    # pixels would now fail on them; one that trusts the fingerprint does not notice.
    for photo in three_folders.rglob("*.jpg"):
        st = photo.stat()
        photo.write_bytes(b"\0" * st.st_size)
        os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns))

    result = run("backup", three_folders, dest, "--box", BOX, check_code=0)

    assert outputs(dest) == before
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert {o["status"] for o in report["outcomes"]} == {"up to date"}
    assert "3 folders, 9 photos" in result.stdout


def test_changes_add_to_the_folders_they_touch_and_rewrite_no_video(three_folders, tmp_path):
    dest = tmp_path / "backup"
    run("backup", three_folders, dest, "--box", BOX, check_code=0)
    before = outputs(dest)

    shoot(three_folders / "A" / "new.jpg", seed=99, minutes=30)  # A gains a photo
    (three_folders / "B" / "B_0.jpg").unlink()  # B loses one
    run("backup", three_folders, dest, "--box", BOX, check_code=0)

    after = outputs(dest)
    assert after["C"] == before["C"], "an unchanged folder is not touched at all"
    for folder in ("A", "B"):
        assert after[folder][0] == before[folder][0], f"{folder}'s first video is never rewritten"
        assert after[folder][1] != before[folder][1], f"{folder}'s sidecar records the change"
    a, b = record_of(dest, "A"), record_of(dest, "B")
    assert [s.frames for s in a.segments] == [3, 1] and len(frames(dest / "A" / "A.2.mp4")) == 1
    assert [s.frames for s in b.segments] == [4], "a deletion encodes nothing"
    assert [p.name for p in b.photos if p.removed] == ["B_0.jpg"]

    config = tmp_path / "policy.yaml"
    config.write_text(f"defaults: {{box: {BOX}}}\nrules:\n  - {{match: C, quality: tiny}}\n")
    run("backup", three_folders, dest, "--config", config, check_code=0)
    changed = outputs(dest)
    assert changed["A"] == after["A"] and changed["B"] == after["B"]
    assert changed["C"][0] == after["C"][0], "the old segment stays"
    c = record_of(dest, "C")
    assert [(s.frames, s.settings.quality) for s in c.segments] == [(2, 37), (2, 44)]


def test_verify_existing_re_hashes_finished_videos(three_folders, tmp_path):
    dest = tmp_path / "backup"
    run("backup", three_folders, dest, "--box", BOX, check_code=0)
    video = dest / "C" / "C.mp4"
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    video.write_bytes(bytes(data))
    before = outputs(dest)

    run("backup", three_folders, dest, "--box", BOX, check_code=0)
    assert outputs(dest) == before, "a plain rerun trusts sizes"

    rerun = run("backup", three_folders, dest, "--box", BOX, "--verify-existing", check_code=1)
    assert "C.mp4: checksum does not match the sidecar" in rerun.stderr
    after = outputs(dest)
    assert after["A"] == before["A"] and after["C"][0] == before["C"][0], "no video rewritten"
    c = record_of(dest, "C")
    assert [s.frames for s in c.segments] == [2, 2], "C's photos encoded again, beside it"
    assert len(frames(dest / "C" / "C.2.mp4")) == 2


def test_the_report_records_each_folder_and_the_photo_counts(three_folders, tmp_path):
    (three_folders / "B" / "broken.jpg").write_text("not a photo")
    dest = tmp_path / "backup"
    run("backup", three_folders, dest, "--box", BOX, check_code=1)
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert report["finished"] is True
    assert report["photos_encoded"] == 9 and report["photos_unconverted"] == 1
    by_folder = {o["relative"]: o for o in report["outcomes"]}
    assert {f: o["status"] for f, o in by_folder.items()} == {f: "done" for f in FOLDERS}
    [kept] = by_folder["B"]["unconverted"]
    assert kept["name"] == "broken.jpg" and "not a readable image" in kept["reason"]

    rerun = run("backup", three_folders, dest, "--box", BOX, check_code=1)
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert {o["status"] for o in report["outcomes"]} == {"up to date"}
    assert report["photos_unconverted"] == 1
    assert "1 photos kept unconverted" in rerun.stdout


def test_after_sigkill_of_backup_no_process_of_the_run_is_left(library, tmp_path):
    fill(library, {"A": 12})
    process = subprocess.Popen(
        command("backup", library, tmp_path / "backup", "--box", BOX, "--jobs", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PHOTORESCUE_KILL_AT": "frame:6"},  # SIGKILL of the main process
        start_new_session=True,
    )
    try:
        assert process.wait(timeout=600) == -signal.SIGKILL
        wait_until(lambda: not live_processes_in_group(process.pid), 30, "the workers to end")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def test_restore_removes_the_partial_files_a_killed_restore_left(three_folders, tmp_path):
    dest, out = tmp_path / "backup", tmp_path / "out"
    run("backup", three_folders, dest, "--box", BOX, check_code=0)
    (out / "A").mkdir(parents=True)
    stale = out / "A" / ".photorescue-0badcafe.partial"
    stale.write_bytes(b"half a photo")
    mine = out / "A" / "mine.partial"  # not restore's: never touched
    mine.write_bytes(b"the user's")
    run("restore", dest, out, check_code=0)
    assert not stale.exists() and mine.read_bytes() == b"the user's"


def test_a_3000_photo_folder_killed_part_way_resumes_without_encoding_committed_parts(
    library, tmp_path
):
    roll = library / "Camera"
    for i in range(3000):  # a phone's camera roll: small photos, so the test stays quick
        shoot(roll / f"IMG_{i:04d}.jpg", size=(64, 48), seed=i, minutes=i)
    dest = tmp_path / "backup"
    code, _ = run_until_killed(
        "backup", library, dest, "--box", 64,
        env={"PHOTORESCUE_KILL_AT": "part-committed:2"}, tmp=tmp_path,
    )  # fmt: skip
    assert code == -signal.SIGKILL
    committed_parts = record_of(dest, "Camera").segments
    assert [s.frames for s in committed_parts] == [PART_PHOTOS, PART_PHOTOS]

    run("backup", library, dest, "--box", 64, check_code=0)

    report = json.loads((dest / "photorescue-report.json").read_text())
    assert report["photos_encoded"] == 3000 - 2 * PART_PHOTOS
    record = record_of(dest, "Camera")
    assert record.segments[:2] == committed_parts  # never rewritten
    assert sum(s.frames for s in record.segments) == 3000
    assert sorted(p.name for p in record.photos) == sorted(p.name for p in roll.iterdir())
    run("backup", library, dest, "--box", 64, check_code=0)  # and now it is up to date
    assert "(0 encoded by this run)" in run("backup", library, dest, "--box", 64).stdout
