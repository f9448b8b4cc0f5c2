"""Shared fixtures: real photos made on the fly with Pillow and real EXIF, and the CLI."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from photorescue_batch.catalog import BackedUpFolder
from photorescue_batch.config import load_policy
from photorescue_batch.decode import iter_frames
from photorescue_batch.demo import photo_like, save_photo
from photorescue_batch.layout import FolderLayout
from photorescue_batch.photo import ALIGN, Placement
from photorescue_batch.sidecar import FolderRecord, read_sidecar
from photorescue_batch.similarity import ssim
from photorescue_batch.transaction import committed
from photorescue_batch.walk import walk_library

T0 = datetime(2021, 5, 1, 12, 0, 0)
# Tests use a small box so that the real encoders run in well under a second per folder.
BOX = 256


def shoot(
    path: Path,
    size: tuple[int, int] = (480, 320),
    seed: int = 0,
    minutes: int = 0,
    orientation: int = 1,
    **exif: str,
) -> Image.Image:
    """Save a photo-like picture with camera EXIF at `path`; return the upright picture."""
    upright = photo_like(*size, seed=seed)
    save_photo(path, upright, T0 + timedelta(minutes=minutes), orientation=orientation, **exif)
    return upright


def shoot_burst(paths: list[Path], seed: int, minutes: int, size: tuple[int, int] = (480, 320)):
    """Shots of one scene, a minute apart from `minutes` on, each shifted and exposed a little
    differently, as a burst is: photos that our scene cuts predict from each other."""
    base = photo_like(*size, seed=seed)
    for i, path in enumerate(paths):
        shot = base.transform(base.size, Image.Transform.AFFINE, (1, 0, 3 * i, 0, 1, i))
        shot = shot.point(lambda v, i=i: min(255, int(v * (1 + 0.02 * i))))
        save_photo(path, shot, T0 + timedelta(minutes=minutes + i))


def fill(library: Path, counts: dict[str, int], size: tuple[int, int] = (480, 320)) -> Path:
    """Folders of distinct photos, `counts[folder]` in each, a minute apart."""
    seed = 0
    for folder, count in counts.items():
        for i in range(count):
            seed += 1
            shoot(library / folder / f"{folder}_{i}.jpg", size=size, seed=seed, minutes=i)
    return library


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "photorescue_batch", *map(str, args)]


NOBODY = 65534


def as_a_user(tmp_path: Path) -> list[str]:
    """The command line that runs `photorescue` as an ordinary user (nobody), as users run
    it: no root, so no reading what is not theirs. Skips where privileges cannot be dropped.
    That user must reach tmp_path, and may not be able to run the venv's interpreter's worker
    processes (its binary lies under /root here): then the system python3 runs the same code
    from the venv's site-packages."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop to an ordinary user")
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    for parent in [tmp_path, *tmp_path.parents]:
        if parent == Path("/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o005)
    pool = "from joblib import Parallel, delayed; Parallel(2)(delayed(abs)(i) for i in range(2))"
    probe = subprocess.run([*drop, sys.executable, "-c", pool], **QUIET)
    if probe.returncode == 0:
        return [*drop, *command()]
    site = next(p for p in sys.path if p.endswith("site-packages"))
    checkout = str(Path(__file__).resolve().parents[1])
    return [*drop, "env", f"PYTHONPATH={checkout}:{site}", "python3", "-m", "photorescue_batch"]


QUIET = {"capture_output": True, "check": False}


def run(
    *args: str | Path,
    check_code: int | None = None,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
    user: list[str] | None = None,
    **kw,
) -> subprocess.CompletedProcess:
    """Run the real `photorescue` command in a subprocess (as `user`, a command line from
    `as_a_user`, if given)."""
    base = [*user, *map(str, args)] if user else command(*args)
    result = subprocess.run(
        [*(prefix or []), *base],
        capture_output=True,
        text=True,
        errors="surrogateescape",  # names go out as their bytes (names.py)
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        timeout=600,
        **kw,
    )
    if check_code is not None:
        assert result.returncode == check_code, result.stderr
    return result


def keyframes(video: Path) -> list[bool]:
    """Which of a video's frames are keyframes, in frame order."""
    with av.open(str(video)) as container:
        packets = sorted((p for p in container.demux(video=0) if p.size), key=lambda p: p.pts)
        return [p.is_keyframe for p in packets]


def frames(video: Path) -> list[np.ndarray]:
    return list(iter_frames(video))


def letterbox_reference(upright: Image.Image, rect: Placement) -> np.ndarray:
    """What the rect should show: the upright photo, LANCZOS-shrunk to the rect's size."""
    return np.asarray(upright.convert("RGB").resize((rect.w, rect.h), Image.Resampling.LANCZOS))


def inside(frame: np.ndarray, rect: Placement) -> np.ndarray:
    return frame[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w]


def outside_is_black(frame: np.ndarray, rect: Placement) -> bool:
    """Black to the eye beyond the rect's edges, repeated out to the next multiple of ALIGN:
    lossy codecs ring a few pixels across the edge, so a 4-pixel seam is left out, and nothing
    beyond it may be brighter than level 20 of 255."""
    right = -(-(rect.x + rect.w) // ALIGN) * ALIGN + 4
    bottom = -(-(rect.y + rect.h) // ALIGN) * ALIGN + 4
    mask = np.ones(frame.shape[:2], dtype=bool)
    mask[max(0, rect.y - 4) : bottom, max(0, rect.x - 4) : right] = False
    bars = frame[mask]
    return bool(bars.max(initial=0) <= 20 and bars.mean() < 2) if bars.size else True


def content_ssim(frame: np.ndarray, upright: Image.Image, rect: Placement) -> float:
    return ssim(inside(frame, rect), letterbox_reference(upright, rect))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    return root


def run_until_killed(*args: str | Path, env: dict[str, str], tmp: Path) -> tuple[int, str]:
    """Run a backup that gets SIGKILLed; then end what it left behind, as a power cut would.

    Output goes to files, not pipes: orphaned workers would hold a pipe open for minutes.
    """
    err = tmp / "stderr.txt"
    with open(err, "w") as stderr:
        process = subprocess.Popen(
            command(*args),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, **env},
            start_new_session=True,
        )
        code = process.wait(timeout=600)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return code, err.read_text()


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file and folder under root with its content hash and mtime (ns)."""
    state = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[str(path.relative_to(root))] = (digest, st.st_mtime_ns)
    return state


def identity(path: Path) -> tuple[int, int]:
    """Inode and mtime: unchanged means the file was not rewritten."""
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".partial")]


def backup_of(dest: Path, relative: str) -> BackedUpFolder:
    """A library folder's backup, as restore and verify read it."""
    layout = FolderLayout.of(dest, relative)
    return BackedUpFolder(layout, read_sidecar(layout.sidecar))


def record_of(dest: Path, relative: str) -> FolderRecord:
    return backup_of(dest, relative).record


def only_video(dest: Path, relative: str) -> Path:
    """The folder's one video (its backup has exactly one segment)."""
    folder = backup_of(dest, relative)
    [segment] = folder.record.segments
    return folder.video(segment)


def folder_frames(dest: Path, relative: str) -> list[np.ndarray]:
    """Every frame of every segment of a folder's backup, in segment order."""
    folder = backup_of(dest, relative)
    return [f for s in folder.record.segments for f in iter_frames(folder.video(s))]


def assert_all_done_once(library: Path, dest: Path, box: int, counts: dict[str, int]) -> None:
    """Every folder committed exactly once: nothing partial, one video, every frame decodes."""
    assert partials(dest) == []
    for job in walk_library(library, dest, load_policy().with_overrides(box=box)):
        assert committed(job, dest, verify_hash=True) is not None, job.relative
        layout = job.layout(dest)
        assert sorted(p.name for p in layout.directory.iterdir()) == [
            f"{layout.stem}.mp4",
            f"{layout.stem}.xml",
            f"{layout.stem}.xml.gz",
        ]
        assert len(frames(only_video(dest, job.relative))) == counts[job.relative]
        assert len(record_of(dest, job.relative).photos) == counts[job.relative]


def wait_until(ready: Callable[[], object], timeout: float = 60, what: str = "condition") -> None:
    """Poll until `ready()` is true, failing after `timeout` seconds (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
