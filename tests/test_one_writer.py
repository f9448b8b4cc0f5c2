"""One writer at a time: a second `backup` or `compact` on the same DEST refuses or waits, and
nothing a backup holds is lost, whatever the moment the second one starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BOX, command, fill, run, run_until_killed, shoot, wait_until
from photorescue_batch.lock import LOCK_NAME

COUNTS = {"A": 8, "B": 8, "C": 8}


def _start(*args: str | Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command(*args),
        stdout=open(out.with_suffix(".out"), "w"),
        stderr=open(out.with_suffix(".err"), "w"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )


def _holding(dest: Path) -> bool:
    """The first writer has taken the lock and said who it is."""
    try:
        return bool((dest / LOCK_NAME).read_bytes())
    except FileNotFoundError:
        return False


def _restored_names(dest: Path, out: Path) -> set[str]:
    run("restore", dest, out, check_code=0)
    return {p.relative_to(out).as_posix() for p in out.rglob("*.jpg")}


def _every_photo(library: Path) -> set[str]:
    return {p.relative_to(library).as_posix() for p in library.rglob("*.jpg")}


@pytest.mark.parametrize("second", ["backup", "compact"])
@pytest.mark.parametrize("offset", [0.0, 0.7, 2.0])
def test_a_second_writer_refuses_at_once_and_names_the_holder(library, tmp_path, second, offset):
    fill(library, COUNTS)
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    for i in range(6):  # so the next run adds a segment to every folder: compact has work
        for folder in COUNTS:
            shoot(library / folder / f"new_{i}.jpg", seed=100 + i, minutes=30 + i)
    (library / "A" / "A_0.jpg").unlink()  # a photo only the backup holds from now on

    first = _start("backup", library, dest, "--box", BOX, out=tmp_path / "first")
    wait_until(lambda: _holding(dest), what="the first backup to take the lock")
    time.sleep(offset)
    args = ["backup", library, dest, "--box", BOX] if second == "backup" else ["compact", dest]
    other = run(*args)
    first.wait(timeout=600)

    assert first.returncode == 0, (tmp_path / "first.err").read_text()
    if other.returncode == 2:
        assert "another photorescue is writing it" in other.stderr
        assert f"pid {first.pid}" in other.stderr and "photorescue backup" in other.stderr
        assert "Traceback" not in other.stderr
    else:  # it started after the first had finished
        assert other.returncode == 0, other.stderr
    run("verify", dest, check_code=0)
    assert _restored_names(dest, tmp_path / "out") == _every_photo(library) | {"A/A_0.jpg"}


def test_with_wait_the_second_writer_waits_for_the_first_and_then_runs(library, tmp_path):
    fill(library, COUNTS)
    dest = tmp_path / "backup"
    first = _start("backup", library, dest, "--box", BOX, out=tmp_path / "first")
    wait_until(lambda: _holding(dest), what="the first backup to take the lock")
    second = run("backup", library, dest, "--box", BOX, "--wait")
    first.wait(timeout=600)
    assert first.returncode == 0
    assert second.returncode == 0, second.stderr
    assert "waiting for the other photorescue" in second.stderr
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert report["photos_encoded"] == 0  # it waited: everything was done when it ran
    assert _restored_names(dest, tmp_path / "out") == _every_photo(library)


def test_a_killed_writer_does_not_block_the_next(library, tmp_path):
    fill(library, COUNTS)
    dest = tmp_path / "backup"
    code, _ = run_until_killed(
        "backup", library, dest, "--box", BOX, env={"PHOTORESCUE_KILL_AT": "frame:10"}, tmp=tmp_path
    )
    assert code == -signal.SIGKILL
    started = time.monotonic()
    run("backup", library, dest, "--box", BOX, check_code=0)
    assert time.monotonic() - started < 120
    run("compact", dest, check_code=0)
    assert _restored_names(dest, tmp_path / "out") == _every_photo(library)
