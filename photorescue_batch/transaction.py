"""The resume rule and the folder transaction: what counts as done, and how a run commits.

A run writes a folder's new video, kept files and sidecar as `.partial` files, fsyncs them, moves
the video and kept files into place and renames the sidecar last: that rename is the commit.
A file moved into place before a kill stops the commit carries its own records, so the next run
adopts it instead of deleting it (repair.py); only `.partial` files are ever removed, and a
kill at any instant loses at most the segment being written.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import av

from photorescue_batch.checksum import open_regular, sha256_file
from photorescue_batch.faults import checkpoint
from photorescue_batch.layout import FolderLayout
from photorescue_batch.sidecar import Commit, Segment, SidecarError, pointer, read_commit
from photorescue_batch.walk import FolderJob

_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_WHOLE_DEST = (errno.EROFS, errno.EIO, errno.ENODEV, errno.ENXIO)


class DestinationError(Exception):
    """DEST cannot take the backup (full, read-only, gone): the run stops with exit code 2."""


class FolderUnwritable(Exception):
    """DEST will not take this folder's backup (a name it refuses, a folder it will not let us
    write): the folder fails, with its previous backup as it was, and the run goes on."""


class UnreadableSource(Exception):
    """A library file that cannot be read to be kept: that file is reported, the run goes on."""


def _read(f: BinaryIO) -> bytes:
    try:
        return f.read(1 << 20)
    except OSError as error:
        raise UnreadableSource(f"cannot read: {error.strerror or error}") from error


def committed(job: FolderJob, dest: Path, verify_hash: bool = False) -> Commit | None:
    """The resume rule: the folder's commit record if the last run saw the folder as it is now,
    with the settings as they are now, and every video is intact; else None (work to do)."""
    layout = job.layout(dest)
    if not layout.sidecar.exists():
        return None
    try:
        commit = read_commit(layout.sidecar)
    except SidecarError:
        return None
    if commit.fingerprint != job.fingerprint:
        return None
    if any(s.retry for s in commit.holdings.skipped):
        return None  # a file it could not read: try it again
    if any(not layout.stored(name).is_file() for name in commit.kept_files):
        return None  # a kept copy gone from DEST: the plan takes it again
    if set(v.name for v in layout.videos_on_disk().values()) - commit.stored_files():
        return None  # a segment a stopped run left: the plan adopts it (repair.py)
    if damaged_segments(layout, commit.segments, verify_hash):
        return None
    return commit


def damaged_segments(
    layout: FolderLayout, segments: Iterable[Segment], verify_hash: bool
) -> dict[int, str]:
    """Segments whose video is missing or not the one recorded, with what is wrong."""
    damaged = {}
    for segment in segments:
        path = layout.stored(segment.video)
        try:
            size = path.stat().st_size
        except OSError as error:
            damaged[segment.id] = f"{segment.video}: {error.strerror or error}"
            continue
        if size != segment.bytes:
            damaged[segment.id] = f"{segment.video}: {size} bytes, the sidecar says {segment.bytes}"
        elif verify_hash and sha256_file(path) != segment.sha256:
            damaged[segment.id] = f"{segment.video}: checksum does not match the sidecar"
    return damaged


class FolderTransaction:
    """One run's new files for a folder, as .partial files until `commit` makes them the backup.

    Opening it removes the partial files of earlier, interrupted runs, and nothing else (with
    `clean`; the next part of a folder this run is still writing keeps its own).
    """

    def __init__(self, layout: FolderLayout, clean: bool = True) -> None:
        self.layout = layout
        self._kept: list[str] = []
        self._videos: dict[str, Path] = {}
        layout.directory.mkdir(parents=True, exist_ok=True)
        if clean:
            layout.remove_partials()
        self._file = open(layout.partial(layout.new_sidecar), "wb")  # noqa: SIM115
        # mtime=0: the same sidecar compresses to the same bytes, whenever it is written.
        self.sidecar: BinaryIO | None = gzip.GzipFile(fileobj=self._file, mode="wb", mtime=0)

    def append_members(self, path: Path) -> None:
        """Copy gzip members (a folder's entries, written as they came) into the sidecar after
        what it holds so far; `sidecar` then writes a new member after them. A sidecar of
        several members reads as one (gzip, zcat and Python concatenate them)."""
        assert self.sidecar is not None
        self.sidecar.close()
        with open(path, "rb") as members:
            shutil.copyfileobj(members, self._file, 1 << 20)
        self.sidecar = gzip.GzipFile(fileobj=self._file, mode="wb", mtime=0)

    def video(self, name: str) -> Path:
        """Where a new segment's video is written until the commit."""
        return self._videos.setdefault(name, self.layout.partial(self.layout.directory / name))

    def keep(self, source: Path, stored: str, mtime_ns: int, start: int = 0) -> tuple[int, str]:
        """Copy a library file byte for byte (from `start` on: a motion photo's clip), with its
        mtime, to be stored at `stored` once the run commits; returns its size and sha256. The
        copy streams: a video of several GB never sits in memory. A failure reading the library
        raises UnreadableSource; one writing DEST raises OSError."""
        target = self.layout.kept_partial / stored
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        try:
            original = open_regular(source)
        except OSError as error:
            raise UnreadableSource(f"cannot read: {error.strerror or error}") from error
        with original, open(target, "wb") as out:
            original.seek(start)
            while block := _read(original):
                digest.update(block)
                size += len(block)
                out.write(block)
            _sync(out)
        os.utime(target, ns=(mtime_ns, mtime_ns))
        self._kept.append(stored)
        return size, digest.hexdigest()

    def commit(self, videos: Iterable[str]) -> None:
        """Make the run's files durable and visible; the sidecar's rename is the commit point.

        The caller has written the whole sidecar; `videos` are the new segments' file names.
        """
        layout = self.layout
        assert self.sidecar is not None
        self.sidecar.close()  # writes the gzip trailer; the file stays open
        self.sidecar = None
        _sync(self._file)
        self._file.close()
        checkpoint("sidecar-written")
        for stored in self._kept:
            target = layout.directory / stored
            target.parent.mkdir(exist_ok=True)
            os.replace(layout.kept_partial / stored, target)
            _sync_dir(target.parent)
        if layout.kept_partial.exists():
            shutil.rmtree(layout.kept_partial)
        for video in videos:
            _sync_path(self._videos[video])
            os.replace(self._videos[video], layout.directory / video)
        checkpoint("video-renamed")
        os.replace(layout.partial(layout.new_sidecar), layout.new_sidecar)
        _sync_dir(layout.directory)
        self._point_to_sidecar()

    def _point_to_sidecar(self) -> None:
        """Replace a pre-0.3 plain sidecar (or nothing) by the pointer that old versions refuse."""
        layout = self.layout
        content = pointer(layout.new_sidecar.name)
        with contextlib.suppress(OSError):
            if layout.pointer.read_bytes() == content:
                return
        partial = layout.partial(layout.pointer)
        with open(partial, "wb") as out:
            out.write(content)
            _sync(out)
        os.replace(partial, layout.pointer)
        _sync_dir(layout.directory)

    def abort(self) -> None:
        """Drop this run's partial files; the last committed backup stays as it was."""
        for stream in (self.sidecar, self._file):
            with contextlib.suppress(OSError):  # its buffer may fail to flush again: a full disk
                if stream is not None:
                    stream.close()
        self.sidecar = None
        layout = self.layout
        partials = (layout.partial(layout.new_sidecar), layout.kept_partial, *self._videos.values())
        for path in partials:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def destination_error(
    error: BaseException, dest: Path
) -> DestinationError | FolderUnwritable | None:
    """The error as DEST's problem, or None if it is not DEST's: a DEST that is full,
    read-only, failing or gone stops the run (DestinationError); anything else (a name it
    refuses, a folder it will not let us write) fails only the folder (FolderUnwritable).

    Every library read is handled per photo, so an OSError while writing a folder is DEST's.
    The encoder's own errors are the folder's, unless they too say the disk is full.
    """
    if isinstance(error, av.FFmpegError):
        if getattr(error, "errno", None) not in _FULL:
            return None
    elif not isinstance(error, OSError):
        return None
    where = error.filename or dest
    if error.errno in _FULL:
        return DestinationError(
            f"{where}: DEST is full ({error.strerror}); free some space and run again to resume"
        )
    message = f"{where}: cannot write the backup: {error.strerror or error}"
    if error.errno in _WHOLE_DEST or not dest.is_dir():
        return DestinationError(message)
    return FolderUnwritable(message)


def _sync(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


def _sync_path(path: Path) -> None:
    with open(path, "rb+") as f:
        _sync(f)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
