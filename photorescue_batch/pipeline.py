"""One folder end to end (plan -> photos -> frames -> a new segment -> sidecar -> commit), then
many.

Data flows one way: walk -> plan -> photo/metadata (in the pool) -> encode -> sidecar -> commit
(transaction.py). A run adds to a folder's backup and never takes anything out of it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import Any, Protocol, TypeVar

import av
from joblib import Parallel, delayed

from photorescue_batch.catalog import stored_bytes
from photorescue_batch.encode import CODECS, FRAME_FORMAT, VideoWriter
from photorescue_batch.faults import checkpoint
from photorescue_batch.metadata import PhotoMetadata, read_metadata
from photorescue_batch.photo import FittedPhoto, UnreadablePhoto, fit_photo
from photorescue_batch.plan import FolderPlan, is_changed_in_place, plan_folder
from photorescue_batch.sidecar import (
    Entry,
    KeptRecord,
    PhotoRecord,
    Segment,
    SidecarError,
    SidecarWriter,
)
from photorescue_batch.transaction import (
    FolderTransaction,
    committed,
    destination_error,
    sha256_file,
)
from photorescue_batch.walk import FolderJob, PhotoFile

T = TypeVar("T")
# One photo as the pool hands it over, in capture order: the file, its metadata, its pixels.
Converted = tuple[PhotoFile, PhotoMetadata, FittedPhoto | UnreadablePhoto]


class Reporter(Protocol):
    """The seam between the pipeline and the terminal (progress bar, error lines)."""

    def folder_started(self, job: FolderJob) -> None: ...
    def photos_done(self, count: int) -> None: ...
    def problem(self, message: str) -> None: ...


@dataclass(frozen=True)
class FolderOutcome:
    """What one run did with one folder, and what its backup holds now."""

    relative: str
    status: str  # "done", "up to date", "removed" (from the library) or "failed"
    photos: int  # photos in the backup that the library holds (as frames, newest versions)
    input_bytes: int
    output_bytes: int
    encoded: int = 0  # frames this run added
    removed: int = 0  # photos the backup holds that the library no longer does
    unconverted: tuple[KeptRecord, ...] = ()
    changed_in_place: tuple[str, ...] = ()
    damaged: tuple[str, ...] = ()  # segments whose video is missing or not as recorded
    reason: str | None = None


@dataclass
class RunSummary:
    outcomes: list[FolderOutcome] = field(default_factory=list)

    @property
    def photos(self) -> int:
        return sum(o.photos for o in self.outcomes)

    @property
    def encoded(self) -> int:
        return sum(o.encoded for o in self.outcomes)

    @property
    def removed(self) -> int:
        return sum(o.removed for o in self.outcomes)

    @property
    def input_bytes(self) -> int:
        return sum(o.input_bytes for o in self.outcomes)

    @property
    def output_bytes(self) -> int:
        return sum(o.output_bytes for o in self.outcomes)

    @property
    def unconverted(self) -> int:
        return sum(len(o.unconverted) for o in self.outcomes)

    @property
    def changed_in_place(self) -> int:
        return sum(len(o.changed_in_place) for o in self.outcomes)

    @property
    def damaged(self) -> int:
        return sum(len(o.damaged) for o in self.outcomes)

    @property
    def failed(self) -> list[FolderOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def run_started() -> str:
    """The run's timestamp: when new versions were added and removals noticed."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


class FolderBackup:
    """One run's additions to a folder's backup while they are written: a new segment's video,
    kept files, and the new sidecar that carries every earlier entry over.

    Nothing of it counts until `finish` commits it; any failure before that removes every
    .partial file it wrote and leaves the previous backup as it was.
    """

    def __init__(
        self, job: FolderJob, dest: Path, plan: FolderPlan, reporter: Reporter, now: str
    ) -> None:
        self.job, self.dest, self.plan, self.reporter, self.now = job, dest, plan, reporter, now
        self.layout = job.layout(dest)
        self.frames = 0
        self.rotted: list[str] = list(plan.rotted)
        self._newest = plan.newest
        self._state = {name: _state(e) for name, e in self._newest.items()}
        self._unconverted = {
            name: e
            for name, e in self._newest.items()
            if isinstance(e, KeptRecord) and not e.removed
        }
        self._stored = plan.previous.stored_files() if plan.previous else set()
        self._video = self.layout.video_name(plan.segment, job.settings.codec)
        self._writer: VideoWriter | None = None
        self.transaction: FolderTransaction | None = None
        with self.aborting():
            self.transaction = FolderTransaction(
                self.layout, self._stored if plan.previous else None
            )
            self._sidecar = SidecarWriter(self.transaction.sidecar, job.relative, job.fingerprint)
            for entry in plan.carried:
                self._sidecar.entry(entry)

    def add(
        self, photo: PhotoFile, meta: PhotoMetadata, result: FittedPhoto | UnreadablePhoto
    ) -> None:
        """Append one photo: its frame to the new segment, or its bytes to the kept files."""
        path = self.job.folder / photo.name
        previous = self._newest.get(photo.name)
        if isinstance(result, UnreadablePhoto):
            self._append(self._keep(photo, path, result.reason))
            self.reporter.problem(f"{path}: {result.reason} (original kept)")
        elif is_changed_in_place(previous, photo, result.sha256):
            self.rotted.append(photo.name)
            self.reporter.problem(
                f"{path}: changed in place (possible bit rot): same size and mtime as when it "
                "was backed up, other bytes; the backup keeps the earlier version"
            )
        else:
            self._append(self._encode(photo, meta, result))
            if meta.problem:
                self.reporter.problem(f"{path}: {meta.problem} (photo kept)")
            checkpoint("frame")
        self.reporter.photos_done(1)

    def finish(self) -> FolderOutcome:
        """Flush the encoder, write the segments, and commit (see transaction.py)."""
        assert self.transaction is not None
        with self.aborting():
            segments = list(self.plan.previous.segments) if self.plan.previous else []
            new_videos = []
            if self._writer is not None:
                segments.append(self._close_video())
                self._writer = None  # closed: nothing left to abort
                new_videos.append(self._video)
            self._sidecar.finish(segments)
            self.transaction.commit(new_videos)
        self._stored.update(s.video for s in segments)
        status = "done" if self.job.photos else "removed"
        return self._outcome(status, stored_bytes(self.layout, self._stored))

    def _encode(self, photo: PhotoFile, meta: PhotoMetadata, fitted: FittedPhoto) -> PhotoRecord:
        s = self.job.settings
        if self._writer is None:
            assert self.transaction is not None
            video = self.transaction.video(self._video)
            self._writer = VideoWriter(video, s.codec, s.quality, s.box, s.keyframes)
        time, pts = self._writer.write(fitted.letterboxed(s.box), fitted.signature)
        self.frames += 1
        return PhotoRecord(
            segment=self.plan.segment,
            index=self.frames - 1,
            time=time,
            pts=pts,
            name=photo.name,
            bytes=photo.size,
            sha256=fitted.sha256,
            mtime_ns=photo.mtime_ns,
            width=fitted.size[0],
            height=fitted.size[1],
            orientation=meta.orientation,
            rect=fitted.placement,
            captured=meta.captured,
            tags=meta.tags,
            exif=meta.exif,
            problem=meta.problem,
            added=self.now,
        )

    def _keep(self, photo: PhotoFile, path: Path, reason: str) -> KeptRecord:
        """Keep a photo we could not convert byte for byte; one we cannot read is still
        recorded, with why. An error writing DEST propagates."""
        try:
            data = path.read_bytes()
        except OSError as error:
            reason = f"{reason}; the original could not be copied either: {error.strerror}"
            return KeptRecord(photo.name, "", photo.size, None, photo.mtime_ns, reason, self.now)
        version = 1
        while (stored := self.layout.kept_name(version, photo.name)) in self._stored:
            version += 1
        assert self.transaction is not None
        self.transaction.keep(data, stored, photo.mtime_ns)
        self._stored.add(stored)
        sha256 = hashlib.sha256(data).hexdigest()
        return KeptRecord(photo.name, stored, len(data), sha256, photo.mtime_ns, reason, self.now)

    def _append(self, entry: Entry) -> None:
        self._sidecar.entry(entry)
        self._state[entry.name] = _state(entry)
        if isinstance(entry, KeptRecord):
            self._unconverted[entry.name] = entry
        else:
            self._unconverted.pop(entry.name, None)

    def _close_video(self) -> Segment:
        assert self._writer is not None and self.transaction is not None
        writer, s = self._writer, self.job.settings
        writer.close()
        path = self.transaction.video(self._video)
        return Segment(
            id=self.plan.segment,
            video=self._video,
            settings=s,
            frame_format=FRAME_FORMAT,
            encoder=CODECS[s.codec].encoder,
            pix_fmt=CODECS[s.codec].pix_fmt,
            fps=writer.fps,
            time_base=writer.time_base,
            frames=self.frames,
            bytes=path.stat().st_size,
            sha256=sha256_file(path),
            created=self.now,
        )

    def _outcome(self, status: str, output_bytes: int) -> FolderOutcome:
        states = self._state.values()
        return FolderOutcome(
            relative=self.job.relative,
            status=status,
            photos=sum(kind == "photo" and not removed for kind, removed in states),
            input_bytes=self.job.input_bytes,
            output_bytes=output_bytes,
            encoded=self.frames,
            removed=sum(removed for _, removed in states),
            unconverted=tuple(self._unconverted.values()),
            changed_in_place=tuple(self.rotted),
            damaged=tuple(self.plan.damaged.values()),
        )

    @contextmanager
    def aborting(self) -> Iterator[None]:
        """On any failure, drop what this run wrote; a DEST that cannot take it stops the run."""
        try:
            yield
        except BaseException as error:
            if self._writer is not None:
                self._writer.abort()
                self._writer = None
            if self.transaction is not None:
                self.transaction.abort()
            problem = destination_error(error, self.dest)
            if problem is not None:
                raise problem from error
            raise


def converted_photos(
    job: FolderJob, photos: tuple[PhotoFile, ...], pool: Parallel, window: int
) -> Iterator[Converted]:
    """The photos in capture order, each with its metadata and pixels, from the pool.

    A first pass reads only capture times (the order needs them all); everything heavier comes
    one window at a time, so memory does not grow with the folder.
    """
    paths = [job.folder / p.name for p in photos]
    captured = list(pool(delayed(_capture_time)(path) for path in paths))
    order = sorted(range(len(paths)), key=lambda i: capture_order(photos[i], captured[i]))
    calls = (delayed(convert_photo)(paths[i], job.settings.box) for i in order)
    for i, (meta, result) in zip(order, in_order(pool, calls, window), strict=True):
        yield photos[i], meta, result


def write_folder(
    job: FolderJob,
    dest: Path,
    plan: FolderPlan,
    photos: Iterable[Converted],
    reporter: Reporter,
    now: str,
) -> FolderBackup:
    """Encode a folder's new photos into .partial files; `finish` commits them."""
    backup = FolderBackup(job, dest, plan, reporter, now)
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
    now: str | None = None,
) -> Iterator[FolderOutcome]:
    """Back up every folder that is not up to date, sharing one worker pool across them.

    A folder's encoder flushes and its files are committed in a second thread while the pool
    already decodes the next folder's first frames, so the cores do not idle between folders;
    the next encoder starts only once that commit is over, so one encoder's memory at a time.
    Yields each folder's outcome as it is settled, so an interrupted run can still report.
    A DEST that cannot take more raises DestinationError.
    """
    now = now or run_started()
    window = max(4, 3 * n_jobs)
    with (
        Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1, pre_dispatch="all") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="photorescue-commit") as committer,
    ):
        finishing: Future[FolderOutcome] | None = None
        for job in jobs:
            reporter.folder_started(job)
            settled = prepare(job, dest, reporter, verify_existing, now)
            if isinstance(settled, FolderPlan):
                photos = converted_photos(job, settled.todo, pool, window)
                photos = chain(list(islice(photos, 1)), photos)  # starts the pool on this folder
            if finishing is not None:
                yield finishing.result()
                checkpoint("folder-done")
                finishing = None
            if isinstance(settled, FolderOutcome):
                reporter.photos_done(len(job.photos))
                yield settled
                continue
            reporter.photos_done(len(job.photos) - len(settled.todo))
            step = partial(write_folder, job, dest, settled, photos, reporter, now)
            written = _or_failed(job, reporter, step)
            if isinstance(written, FolderOutcome):
                yield written
                continue
            finishing = committer.submit(_or_failed, job, reporter, written.finish)
        if finishing is not None:
            yield finishing.result()
            checkpoint("folder-done")


def prepare(
    job: FolderJob, dest: Path, reporter: Reporter, verify_existing: bool, now: str
) -> FolderPlan | FolderOutcome:
    """The folder's plan, or its outcome if there is nothing to write (or it cannot be read)."""
    if not verify_existing:
        commit = committed(job, dest)
        if commit is not None:
            return FolderOutcome(
                job.relative,
                "up to date",
                commit.photos,
                job.input_bytes,
                stored_bytes(job.layout(dest), commit.stored_files()),
                removed=commit.removed,
                unconverted=commit.unconverted,
            )
    try:
        plan = plan_folder(job, dest, now, verify_existing)
    except SidecarError as error:
        reason = f"{error}; nothing was changed (move the sidecar away to back it up afresh)"
        reporter.problem(reason)
        return FolderOutcome(job.relative, "failed", 0, job.input_bytes, 0, reason=reason)
    for problem in plan.damaged.values():
        reporter.problem(f"{problem}; its photos still in the library are encoded again")
    for name in plan.rotted:
        reporter.problem(
            f"{job.folder / name}: changed in place (possible bit rot): same size and mtime as "
            "when it was backed up, other bytes; the backup keeps the earlier version"
        )
    if plan.changes_nothing:
        assert plan.previous is not None
        record = plan.previous
        newest = [e for e in record.newest().values()]
        return FolderOutcome(
            job.relative,
            "up to date",
            sum(isinstance(e, PhotoRecord) and not e.removed for e in newest),
            job.input_bytes,
            stored_bytes(job.layout(dest), record.stored_files()),
            removed=sum(bool(e.removed) for e in newest),
            unconverted=tuple(e for e in newest if isinstance(e, KeptRecord) and not e.removed),
            changed_in_place=plan.rotted,
            damaged=tuple(plan.damaged.values()),
        )
    return plan


def settle_folder(
    job: FolderJob, dest: Path, pool: Parallel, window: int, reporter: Reporter, now: str
) -> FolderOutcome:
    """Back up one folder, from plan to commit, in this thread (a Dask worker's task)."""
    settled = prepare(job, dest, reporter, False, now)
    if isinstance(settled, FolderOutcome):
        return settled
    photos = converted_photos(job, settled.todo, pool, window)
    step = partial(write_folder, job, dest, settled, photos, reporter, now)
    written = _or_failed(job, reporter, step)
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


def _capture_time(path: Path) -> str | None:
    """The pool task of the first pass: only what the order needs, so a big folder stays small."""
    _ignore_ctrl_c()
    return read_metadata(path).captured


def convert_photo(path: Path, box: int) -> tuple[PhotoMetadata, FittedPhoto | UnreadablePhoto]:
    """The pool task: a photo's metadata and pixels, or why there are none (the run goes on)."""
    _ignore_ctrl_c()
    meta = read_metadata(path)
    try:
        return meta, fit_photo(path, meta.orientation, box)
    except UnreadablePhoto as error:
        return meta, error


def _ignore_ctrl_c() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and tells the user."""
    in_worker = multiprocessing.parent_process() is not None
    if in_worker and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _state(entry: Entry) -> tuple[str, bool]:
    """What the outcome counts of a name's newest version: its kind, and whether removed."""
    return ("photo" if isinstance(entry, PhotoRecord) else "kept", bool(entry.removed))
