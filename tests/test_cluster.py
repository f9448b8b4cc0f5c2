"""The same backup on a Dask cluster: real schedulers and workers, as separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import assert_all_done_once, fill, frames, free_port, record_of, run, shoot

pytest.importorskip("distributed")
BOX = 128
FOLDERS = {f"F{i}": 2 + i % 3 for i in range(6)}


@pytest.fixture
def six_folders(library: Path) -> Path:
    return fill(library, FOLDERS, size=(320, 240))


def sidecar_photos(dest: Path) -> dict[str, tuple]:
    """Each folder's photo records, without the run's timestamp."""
    return {f: [replace(p, added=None) for p in record_of(dest, f).photos] for f in FOLDERS}


def test_a_local_cluster_gives_the_same_backup_as_a_local_run(six_folders, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    run("backup", six_folders, local, "--box", BOX, check_code=0)

    result = run("backup", six_folders, cluster, "--box", BOX, "--scheduler", "local:2")

    assert result.returncode == 0, result.stderr
    assert f"6 folders, {sum(FOLDERS.values())} photos" in result.stdout
    assert sidecar_photos(cluster) == sidecar_photos(local)
    for folder in FOLDERS:
        assert len(frames(cluster / folder / f"{folder}.mp4")) == FOLDERS[folder]
    rerun = run("backup", six_folders, cluster, "--box", BOX, "--scheduler", "local:2")
    assert rerun.returncode == 0 and f"6 folders, {sum(FOLDERS.values())} photos" in rerun.stdout

    shoot(six_folders / "F0" / "late.jpg", size=(320, 240), seed=90, minutes=90)
    (six_folders / "F1" / "F1_0.jpg").unlink()
    grown = run("backup", six_folders, cluster, "--box", BOX, "--scheduler", "local:2")
    assert grown.returncode == 0, grown.stderr
    assert [s.frames for s in record_of(cluster, "F0").segments] == [FOLDERS["F0"], 1]
    assert [p.name for p in record_of(cluster, "F1").photos if p.removed] == ["F1_0.jpg"]

    video = cluster / "F2" / "F2.mp4"  # damaged in place: same size, other bytes
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0xFF
    video.write_bytes(bytes(data))
    args = ("backup", six_folders, cluster, "--box", BOX, "--scheduler", "local:2")
    checked = run(*args, "--verify-existing")
    assert checked.returncode == 1, checked.stderr
    assert checked.stderr.count("F2.mp4: checksum does not match the sidecar") == 1
    assert [s.frames for s in record_of(cluster, "F2").segments] == [FOLDERS["F2"]] * 2


def _wait_for_workers(address: str, count: int) -> None:
    """Block until the scheduler answers and `count` workers have joined it."""
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(count, timeout=60)


def _dask(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def test_a_worker_killed_while_it_holds_a_folder_loses_nothing(six_folders, tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _dask("scheduler", "--host", "127.0.0.1", "--port", str(port),
                      "--dashboard-address", ":0")  # fmt: skip
    worker_args = ("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard")
    doomed = _dask(*worker_args, env={"PHOTORESCUE_KILL_AT": "frame:2"})  # dies mid-folder
    healthy = _dask(*worker_args)
    try:
        _wait_for_workers(address, 2)
        dest = tmp_path / "backup"
        first = run("backup", six_folders, dest, "--box", BOX, "--scheduler", address)
        assert first.returncode in (0, 2), first.stderr
        assert doomed.wait(timeout=60) == -9, "the worker really was killed mid-folder"
        second = run("backup", six_folders, dest, "--box", BOX, "--scheduler", address)
        assert second.returncode == 0, second.stderr
        assert_all_done_once(six_folders, dest, BOX, FOLDERS)
    finally:
        for process in (doomed, healthy, scheduler):
            process.kill()
            process.wait()


def test_a_missing_extra_names_the_install_command(six_folders, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "distributed.py").write_text("raise ImportError('not installed')\n")
    env = {"PYTHONPATH": f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = run("backup", six_folders, tmp_path / "b", "--scheduler", "local:2", env=env)
    assert result.returncode == 2
    assert "pip install 'photorescue-batch[cluster]'" in result.stderr
    assert "Traceback" not in result.stderr
