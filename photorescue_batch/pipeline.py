"""One folder end to end (photos -> frames -> one video -> sidecar -> commit), then many.

Data flows one way: walk -> photo/metadata (in the pool) -> encode -> sidecar -> commit. The
sidecar is renamed into place last: it is the commit record that says a folder is done.
"""

from __future__ import annotations

import errno
import hashlib
import multiprocessing
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

import av
from joblib import Parallel, delayed

from photorescue_batch.catalog import stored_bytes
from photorescue_batch.encode import PRESETS, TIME_BASE, VideoWriter
from photorescue_batch.faults import checkpoint
from photorescue_batch.metadata import PhotoMetadata, read_metadata
from photorescue_batch.photo import Frame, UnreadablePhoto, make_frame
from photorescue_batch.sidecar import (
    Commit,
    PhotoRecord,
    SidecarError,
    SidecarWriter,
    UnconvertedRecord,
    VideoInfo,
    read_commit,
)
from photorescue_batch.walk import FolderJob, PhotoFile

PARTIAL = ".partial"
T = TypeVar("T")
# One photo as the pool hands it over, in capture order: the file, its metadata, its frame.
Converted = tuple[PhotoFile, PhotoMetadata, Frame | UnreadablePhoto]
_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class DestinationError(Exception):
    """DEST cannot take the backup (full, read-only, gone): the run stops with exit code 2."""


class Reporter(Protocol):
    """The seam between the pipeline and the terminal (progress bar, error lines)."""

    def folder_started(self, job: FolderJob) -> None: ...
    def photos_done(self, count: int) -> None: ...
    def problem(self, message: str) -> None: ...


@dataclass(frozen=True)
class FolderOutcome:
    """What one run did with one folder."""

    relative: str
    status: str  # "done", "up to date" or "failed"
    photos: int
    input_bytes: int
    output_bytes: int
    unconverted: tuple[UnconvertedRecord, ...] = ()
    reason: str | None = None


@dataclass
class RunSummary:
    outcomes: list[FolderOutcome] = field(default_factory=list)

    @property
    def photos(self) -> int:
        return sum(o.photos for o in self.outcomes)

    @property
    def unconverted(self) -> int:
        return sum(len(o.unconverted) for o in self.outcomes)

    @property
    def input_bytes(self) -> int:
        return sum(o.input_bytes for o in self.outcomes)

    @property
    def output_bytes(self) -> int:
        return sum(o.output_bytes for o in self.outcomes)

    @property
    def failed(self) -> list[FolderOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def finished_backup(job: FolderJob, dest: Path, verify_hash: bool = False) -> Commit | None:
    """The resume rule: the folder's commit record if its sidecar matches the folder and
    settings as they are now and its video has the recorded size (and hash); else None."""
    sidecar = job.sidecar_path(dest)
    if not sidecar.exists():
        return None
    try:
        commit = read_commit(sidecar)
    except SidecarError:
        return None
    if commit.fingerprint != job.fingerprint:
        return None
    if commit.video.frames == 0:
        return commit
    path = job.output_dir(dest) / commit.video.name
    try:
        if path.stat().st_size != commit.video.bytes:
            return None
    except OSError:
        return None
    if verify_hash and sha256_file(path) != commit.video.sha256:
        return None
    return commit


class FolderBackup:
    """One folder's backup while it is being written: .partial video, sidecar and kept originals.

    Nothing of it counts as done until `finish` renames the sidecar into place; any failure
    before that removes every .partial file it wrote.
    """

    def __init__(self, job: FolderJob, dest: Path, reporter: Reporter) -> None:
        self.job, self.dest, self.reporter = job, dest, reporter
        self.frames = 0
        self.unconverted: list[UnconvertedRecord] = []
        self._video = _partial(job.video_path(dest))
        self._kept = _partial(job.unconverted_dir(dest))
        self._writer: VideoWriter | None = None
        self._sidecar_file: BinaryIO | None = None
        with self.aborting():
            job.output_dir(dest).mkdir(parents=True, exist_ok=True)
            remove_partials(job, dest)
            self._sidecar_file = open(_partial(job.sidecar_path(dest)), "wb")  # noqa: SIM115
            self._sidecar = SidecarWriter(
                self._sidecar_file, job.relative, job.settings, job.fingerprint
            )

    def add(self, photo: PhotoFile, meta: PhotoMetadata, result: Frame | UnreadablePhoto) -> None:
        """Append one photo: its frame to the video and its record to the sidecar, or keep it."""
        path = self.job.folder / photo.name
        if isinstance(result, UnreadablePhoto):
            record = keep_original(path, photo, result.reason, self._kept)
            self._sidecar.unconverted(record)
            self.unconverted.append(record)
            self.reporter.problem(f"{path}: {result.reason} (original kept)")
        else:
            s = self.job.settings
            if self._writer is None:
                self._writer = VideoWriter(self._video, s.codec, s.quality, s.box, s.keyframes)
            self._writer.write(result.letterboxed(s.box), result.signature)
            self._sidecar.photo(_record(self.frames, photo, meta, result))
            if meta.problem:
                self.reporter.problem(f"{path}: {meta.problem} (photo kept)")
            self.frames += 1
            checkpoint("frame")
        self.reporter.photos_done(1)

    def finish(self) -> FolderOutcome:
        """Flush the encoder, make both files durable and commit them (see DESIGN.md)."""
        job, dest = self.job, self.dest
        with self.aborting():
            video = _finish_video(self._writer, self._video, job.video_path(dest).name, self.frames)
            self._writer = None  # closed: nothing left to abort
            self._sidecar.finish(video)
            _sync(self._sidecar_file)
            self._sidecar_file.close()
            checkpoint("sidecar-written")
            _commit(job, dest, video, self._video, _partial(job.sidecar_path(dest)), self._kept)
        return FolderOutcome(
            relative=job.relative,
            status="done",
            photos=self.frames,
            input_bytes=job.input_bytes,
            output_bytes=_stored_bytes(job, dest, video),
            unconverted=tuple(self.unconverted),
        )

    @contextmanager
    def aborting(self) -> Iterator[None]:
        """On any failure, drop what this folder wrote; a DEST that cannot take it stops the run."""
        try:
            yield
        except BaseException as error:
            if self._writer is not None:
                self._writer.abort()
            if self._sidecar_file is not None:
                with suppress(OSError):  # its buffer may fail to flush again: a full disk
                    self._sidecar_file.close()
            remove_partials(self.job, self.dest)
            if _is_destination_problem(error):
                raise DestinationError(_describe(error, self.dest)) from error
            raise


def converted_photos(job: FolderJob, pool: Parallel, window: int) -> Iterator[Converted]:
    """The folder's photos in capture order, each with its metadata and frame, from the pool.

    A first pass reads only capture times (the order needs them all); everything heavier comes
    one window at a time, so memory does not grow with the folder.
    """
    paths = [job.folder / p.name for p in job.photos]
    captured = list(pool(delayed(_capture_time)(path) for path in paths))
    order = sorted(range(len(paths)), key=lambda i: capture_order(job.photos[i], captured[i]))
    calls = (delayed(convert_photo)(paths[i], job.settings.box) for i in order)
    for i, (meta, result) in zip(order, in_order(pool, calls, window), strict=True):
        yield job.photos[i], meta, result


def write_folder(
    job: FolderJob, dest: Path, photos: Iterable[Converted], reporter: Reporter
) -> FolderBackup:
    """Encode a folder's photos into its .partial files; `finish` commits them."""
    backup = FolderBackup(job, dest, reporter)
    with backup.aborting():
        for photo, meta, result in photos:
            backup.add(photo, meta, result)
    return backup


def backup_library(
    jobs: list[FolderJob],
    dest: Path,
    n_jobs: int,
    reporter: Reporter,
    verify_existing: bool = False,
) -> Iterator[FolderOutcome]:
    """Back up every folder that is not already done, sharing one worker pool across them.

    A folder's encoder flushes and its files are committed in a second thread while the pool
    already decodes the next folder's first frames, so the cores do not idle between folders;
    the next encoder starts only once that commit is over, so one encoder's memory at a time.
    Yields each folder's outcome as it is settled, so an interrupted run can still report.
    A DEST that cannot take more raises DestinationError.
    """
    window = max(4, 3 * n_jobs)
    with (
        Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1, pre_dispatch="all") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="photorescue-commit") as committer,
    ):
        finishing: Future[FolderOutcome] | None = None
        for job in jobs:
            reporter.folder_started(job)
            outcome = up_to_date(job, dest, verify_existing)
            if outcome is None:
                photos = converted_photos(job, pool, window)
                photos = chain(list(islice(photos, 1)), photos)  # starts the pool on this folder
            if finishing is not None:
                yield finishing.result()
                checkpoint("folder-done")
                finishing = None
            if outcome is not None:
                reporter.photos_done(len(job.photos))
                yield outcome
                continue
            written = _or_failed(job, reporter, partial(write_folder, job, dest, photos, reporter))
            if isinstance(written, FolderOutcome):
                yield written
                continue
            finishing = committer.submit(_or_failed, job, reporter, written.finish)
        if finishing is not None:
            yield finishing.result()
            checkpoint("folder-done")


def up_to_date(job: FolderJob, dest: Path, verify_existing: bool) -> FolderOutcome | None:
    """The outcome of a folder that is already done (see `finished_backup`), else None."""
    commit = finished_backup(job, dest, verify_existing)
    if commit is None:
        return None
    return FolderOutcome(
        job.relative,
        "up to date",
        commit.video.frames,
        job.input_bytes,
        _stored_bytes(job, dest, commit.video),
        unconverted=commit.unconverted,
    )


def settle_folder(
    job: FolderJob, dest: Path, pool: Parallel, window: int, reporter: Reporter
) -> FolderOutcome:
    """Back up one folder that is not done, from first frame to commit, in this thread (Dask)."""
    photos = converted_photos(job, pool, window)
    written = _or_failed(job, reporter, partial(write_folder, job, dest, photos, reporter))
    if isinstance(written, FolderOutcome):
        return written
    return _or_failed(job, reporter, written.finish)


def _or_failed(job: FolderJob, reporter: Reporter, step: Callable[[], T]) -> T | FolderOutcome:
    """Run a step of a folder's backup; an encoder failure fails this folder, not the run."""
    try:
        return step()
    except av.FFmpegError as error:
        reporter.problem(f"{job.folder}: the encoder failed: {error}; folder not done")
        return FolderOutcome(
            job.relative, "failed", 0, job.input_bytes, 0, reason=f"encoder: {error}"
        )


def in_order(parallel: Parallel, calls: Iterable[Any], window: int) -> Iterator[Any]:
    """Results of `calls`, in order, with at most two windows of them held in memory.

    While the encoder consumes one window, the pool already computes the next, so both
    the workers and the encoder stay busy without results piling up unconsumed.
    """
    calls = iter(calls)
    ready: list[Any] = []
    while chunk := list(islice(calls, window)):
        running = parallel(chunk)
        yield from ready
        ready = list(running)
    yield from ready


def capture_order(photo: PhotoFile, captured: str | None) -> tuple[bool, str, str]:
    """EXIF DateTimeOriginal, then file name; photos without a date go last, by name."""
    return (captured is None, captured or "", photo.name)


def keep_original(
    path: Path, photo: PhotoFile, reason: str, unconverted_dir: Path
) -> UnconvertedRecord:
    """Copy a photo we could not convert, byte for byte and with its mtime, beside the video.

    A photo we cannot even read is still recorded, with why; an error writing DEST propagates.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = f"{reason}; the original could not be copied either: {error.strerror or error}"
        return UnconvertedRecord(photo.name, photo.size, None, photo.mtime_ns, reason)
    unconverted_dir.mkdir(exist_ok=True)
    target = unconverted_dir / photo.name
    with open(target, "wb") as out:
        out.write(data)
        _sync(out)
    os.utime(target, ns=(photo.mtime_ns, photo.mtime_ns))
    return UnconvertedRecord(
        photo.name, len(data), hashlib.sha256(data).hexdigest(), photo.mtime_ns, reason
    )


def remove_partials(job: FolderJob, dest: Path) -> None:
    """Delete what an interrupted run left of this folder."""
    for path in job.output_dir(dest).glob(f"{_glob_escape(job.name)}.*{PARTIAL}"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _capture_time(path: Path) -> str | None:
    """The pool task of the first pass: only what the order needs, so a big folder stays small."""
    _ignore_ctrl_c()
    return read_metadata(path).captured


def convert_photo(path: Path, box: int) -> tuple[PhotoMetadata, Frame | UnreadablePhoto]:
    """The pool task: a photo's metadata and frame, or why there is no frame (the run goes on)."""
    _ignore_ctrl_c()
    meta = read_metadata(path)
    try:
        return meta, make_frame(path, meta.orientation, box)
    except UnreadablePhoto as error:
        return meta, error


def _stored_bytes(job: FolderJob, dest: Path, video: VideoInfo) -> int:
    path = job.output_dir(dest) / video.name if video.frames else None
    return stored_bytes(job.sidecar_path(dest), path, job.unconverted_dir(dest))


def _ignore_ctrl_c() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and tells the user."""
    in_worker = multiprocessing.parent_process() is not None
    if in_worker and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _is_destination_problem(error: BaseException) -> bool:
    """Every library read is handled per photo, so an OSError here is DEST's (full, read-only).
    The encoder's own errors are the folder's, unless they too say the disk is full."""
    if isinstance(error, av.FFmpegError):
        return getattr(error, "errno", None) in _FULL
    return isinstance(error, OSError)


def _describe(error: OSError, dest: Path) -> str:
    where = error.filename or dest
    if error.errno in _FULL:
        return f"{where}: DEST is full ({error.strerror}); free some space and run again to resume"
    return f"{where}: cannot write the backup: {error.strerror or error}"


def _record(index: int, photo: PhotoFile, meta: PhotoMetadata, frame: Frame) -> PhotoRecord:
    return PhotoRecord(
        index=index,
        name=photo.name,
        bytes=photo.size,
        sha256=frame.sha256,
        mtime_ns=photo.mtime_ns,
        width=frame.size[0],
        height=frame.size[1],
        orientation=meta.orientation,
        rect=frame.placement,
        captured=meta.captured,
        tags=meta.tags,
        exif=meta.exif,
        problem=meta.problem,
    )


def _finish_video(writer: VideoWriter | None, partial: Path, name: str, frames: int) -> VideoInfo:
    if writer is None:
        return VideoInfo(name="", bytes=0, sha256="", frames=0, time_base=TIME_BASE)
    writer.close()
    with open(partial, "rb+") as f:
        _sync(f)
    return VideoInfo(name, partial.stat().st_size, sha256_file(partial), frames, TIME_BASE)


def _commit(
    job: FolderJob,
    dest: Path,
    video: VideoInfo,
    video_partial: Path,
    sidecar_partial: Path,
    unconverted_partial: Path,
) -> None:
    """Make the folder's new backup visible; the sidecar's rename is the commit point."""
    sidecar = job.sidecar_path(dest)
    sidecar.unlink(missing_ok=True)  # from here until the last rename the folder is not done
    for stale in (job.output_dir(dest) / (job.name + p.extension) for p in PRESETS.values()):
        stale.unlink(missing_ok=True)
    unconverted = job.unconverted_dir(dest)
    if unconverted.exists():
        shutil.rmtree(unconverted)
    if unconverted_partial.exists():
        unconverted_partial.rename(unconverted)
    if video.frames:
        video_partial.rename(job.video_path(dest))
    checkpoint("video-renamed")
    sidecar_partial.rename(sidecar)
    _sync_dir(job.output_dir(dest))


def _partial(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL)


def _sync(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
