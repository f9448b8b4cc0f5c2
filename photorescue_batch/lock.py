"""One writer at a time: every command that writes DEST holds an OS lock on a file in it.

The lock is `flock(2)` on `DEST/.photorescue.lock`. The kernel drops it when its holder dies,
however it dies, so there is never a stale lock to clear by hand (borg and restic keep lock
files that a crash can leave behind; this one cannot be). While it holds the lock, the holder writes
who it is into the file, so a second writer can say whom it is waiting for. Readers (`restore`,
`verify`, `ls`) take no lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

LOCK_NAME = ".photorescue.lock"


class CannotLock(Exception):
    """Another photorescue is writing DEST, or DEST cannot hold a lock file."""


@contextmanager
def writing(
    dest: Path, command: str, wait: bool = False, waiting: Callable[[str], None] = print
) -> Iterator[None]:
    """Hold DEST's lock for the block. Raises CannotLock at once if another process holds
    it, or with `wait`, tells `waiting` whom it waits for and blocks until the lock is free."""
    try:
        fd = os.open(dest / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise CannotLock(f"{dest}: cannot write: {error.strerror or error}") from error
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            if not wait:
                raise CannotLock(
                    f"{dest}: another photorescue is writing it ({holder(fd)}); "
                    "run again when it has finished, or add --wait"
                ) from None
            waiting(f"{dest}: waiting for the other photorescue writing it ({holder(fd)})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        _describe_self(fd, command)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # no longer anyone's (a killed holder's words stay, unlocked)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "it has not said who it is yet"
    return (
        f"{info.get('command', '?')}, pid {info.get('pid', '?')} on {info.get('host', '?')}, "
        f"since {info.get('started', '?')}"
    )


def _describe_self(fd: int, command: str) -> None:
    info = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "command": f"photorescue {command}",
        "argv": sys.argv,
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    data = json.dumps(info, ensure_ascii=True).encode() + b"\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
