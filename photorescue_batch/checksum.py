"""The one checksum of the project, and the one way library files are opened for reading."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO


def open_regular(path: Path) -> BinaryIO:
    """Open a library file for reading, refusing anything but a regular file: a FIFO swapped
    in since the walk would block the reader for ever (O_NONBLOCK opens it at once)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotAFile(path, mode)
    return os.fdopen(fd, "rb")


class NotAFile(OSError):
    """A library entry that is not a regular file (a FIFO, a socket, a device)."""

    def __init__(self, path: Path, mode: int) -> None:
        super().__init__(not_a_file(mode))
        self.strerror = not_a_file(mode)
        self.filename = str(path)


def not_a_file(mode: int) -> str:
    """What a directory entry is that is neither a file nor a folder."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    return "a device, not a file"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in blocks (never whole)."""
    digest = hashlib.sha256()
    with open_regular(path) as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
