"""One folder end to end (plan -> photos -> frames -> a new segment -> sidecar -> commit), then
many.

Data flows one way: walk -> plan -> photo/metadata (in the pool) -> encode -> sidecar -> commit
(transaction.py). A run adds to a folder's backup and never takes anything out of it.
"""

from __future__ import annotations

import gzip
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from itertools import chain, islice
from pathlib import Path
from typing import BinaryIO, TypeVar

import av
from joblib import Parallel, delayed

from photorescue_batch.blocks import MetadataBlock
from photorescue_batch.catalog import stored_bytes
from photorescue_batch.checksum import not_a_file
from photorescue_batch.encode import CODECS, FRAME_FORMAT, VideoWriter
from photorescue_batch.faults import checkpoint
from photorescue_batch.metadata import PhotoMetadata, read_metadata
from photorescue_batch.names import shown
from photorescue_batch.photo import (
    FittedFile,
    FittedPhoto,
    UnreadablePhoto,
    decode_cost,
    fit_file,
)
from photorescue_batch.plan import (
    CHANGED_IN_PLACE,
    FolderPlan,
    is_changed_in_place,
    plan_folder,
)
from photorescue_batch.problems import NOTE, Problem, Reporter, Said, problem
from photorescue_batch.segment_records import append_records
from photorescue_batch.sidecar import (
    Entry,
    Holdings,
    KeptRecord,
    PhotoName,
    PhotoRecord,
    Segment,
    SegmentDocument,
    SidecarWriter,
    SkippedRecord,
    Trailer,
    holdings,
    image_label,
)
from photorescue_batch.trailer import AFTER_IMAGE, find_trailer
from photorescue_batch.transaction import (
    FolderTransaction,
    FolderUnwritable,
    UnreadableSource,
    committed,
    destination_error,
    sha256_file,
)
from photorescue_batch.walk import OTHER, RAW, VIDEO, FolderJob, LibraryFile, unportable
from photorescue_batch.workers import as_worker, in_order

T = TypeVar("T")
# What the workers' decodes may take together: a photo that needs more than its worker's
# share (a 100 MP PNG, a 200 MP HEIC) is decoded while the others wait.
DEFAULT_MEMORY = 1536 * 2**20
# A long folder commits a part once its segment holds this many frames or has been written for
# this long, so that a kill loses minutes, not a 30,000-photo camera roll (see FolderBackup).
PART_PHOTOS = 500
PART_SECONDS = 300
# How often a photo rewritten while it is read is read again before the run gives up on it.
READ_TRIES = 2
CHANGED_WHILE_READ = "changed while it was being read (another program is writing it)"

# One photo as the pool hands it over, in capture order: the file, its metadata, its pixels.
Converted = tuple[LibraryFile, PhotoMetadata, FittedFile | UnreadablePhoto]


@dataclass(frozen=True)
class FolderOutcome:
    """What one run did with one folder, and what its backup holds now."""

    relative: str
    status: str  # "done", "up to date", "removed" (from the library) or "failed"
    photos: int  # files the library holds that the backup shows in frames
    input_bytes: int
    output_bytes: int
    encoded: int = 0  # frames this run added
    kept: tuple[KeptRecord, ...] = ()  # files of the library kept byte for byte
    skipped: tuple[SkippedRecord, ...] = ()  # files (hidden folders, auxiliary images) not kept
    removed: int = 0  # files the backup holds that the library no longer does
    unconverted: tuple[KeptRecord, ...] = ()
    flattened: tuple[str, ...] = ()  # photos whose transparency was flattened
    changed_in_place: tuple[str, ...] = ()
    damaged: tuple[str, ...] = ()  # segments whose video is missing or not as recorded
    repaired: tuple[str, ...] = ()  # a damaged sidecar, files it cannot index (repair.py)
    trailers: tuple[int, ...] = ()  # the bytes of each motion clip (or other trailer) it holds
    problems: tuple[Problem, ...] = ()  # everything said of this folder, in order
    reason: str | None = None

    @classmethod
    def holding(cls, job: FolderJob, status: str, held: Holdings, output_bytes: int, **kw):
        """An outcome that counts what the folder's backup holds."""
        return cls(
            job.relative,
            status,
            held.photos,
            job.input_bytes,
            output_bytes,
            kept=held.kept,
            skipped=held.skipped,
            removed=held.removed,
            unconverted=held.unconverted,
            trailers=held.trailers,
            **kw,
        )


@dataclass
class RunSummary:
    outcomes: list[FolderOutcome] = field(default_factory=list)
    hidden_elsewhere: int = 0  # hidden entries in folders that hold nothing else
    walk_problems: list[Problem] = field(default_factory=list)  # folders it could not list

    @property
    def problems(self) -> list[Problem]:
        """Everything the run said, in order: the exit code and the report come from these."""
        return self.walk_problems + [p for o in self.outcomes for p in o.problems]

    def total(self, name: str) -> int:
        """The sum of a count over every folder (`photos`, `encoded`, `input_bytes`, ...)."""
        return sum(getattr(o, name) for o in self.outcomes)

    @property
    def kept_bytes(self) -> int:
        return sum(k.bytes for o in self.outcomes for k in o.kept)

    def total_of(self, name: str) -> int:
        """The sum over every folder of a list of numbers (`trailers`: their bytes)."""
        return sum(sum(getattr(o, name)) for o in self.outcomes)

    def count(self, name: str) -> int:
        """How many entries a list of every folder's outcome holds (`unconverted`, ...)."""
        return sum(len(getattr(o, name)) for o in self.outcomes)

    @property
    def unread(self) -> int:
        """Files that could not be read, listed as not backed up, and tried again next run."""
        return sum(s.retry for o in self.outcomes for s in o.skipped)

    @property
    def failed(self) -> list[FolderOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def run_started() -> str:
    """The run's timestamp: when new versions were added and removals noticed."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


class FolderBackup:
    """One run's additions to a folder's backup while they are written: new segments' videos,
    kept files, and the new sidecar that carries every earlier entry over.

    A long folder is committed in parts: once a segment holds PART_PHOTOS frames or has been
    written for PART_SECONDS, it is committed with everything so far, under a fingerprint that
    no folder has (so the folder is not up to date until `finish`), and the next segment
    begins; a kill loses at most the part being written. The entries go, as they come, into a
    file of gzip members that each commit copies into its sidecar, so memory does not grow
    with the folder. Any failure before a commit removes the .partial files of that part and
    leaves the backup as the last commit left it.
    """

    def __init__(
        self, job: FolderJob, dest: Path, plan: FolderPlan, reporter: Reporter, now: str
    ) -> None:
        self.job, self.dest, self.plan, self.reporter, self.now = job, dest, plan, reporter, now
        self.layout = job.layout(dest)
        self.frames = 0  # encoded by this run
        self.rotted: list[str] = list(plan.rotted)
        self.flattened: list[str] = []
        self._newest = plan.newest
        self._counted: list[KeptRecord | PhotoName] = [_counted(e) for e in plan.carried]
        self._skipped = [SkippedRecord(name, "hidden") for name in job.hidden]
        self._skipped += [SkippedRecord(name, what) for name, what in job.not_files]
        self._stored = plan.previous.stored_files() if plan.previous else set()
        self._segments = list(plan.previous.segments) if plan.previous else []
        self._kept_names: set[str] = set()  # where this run keeps files (layout.kept_name)
        self._writer: VideoWriter | None = None
        self.transaction: FolderTransaction | None = None
        self._entries_file: BinaryIO | None = None
        self._entries: gzip.GzipFile | None = None  # the gzip member being written
        self._begin_segment(plan.segment)
        with self.aborting():
            if plan.index.sidecar_error and self.layout.new_sidecar.exists():
                aside = self.layout.set_aside()
                reporter.problem(
                    problem(self.layout.new_sidecar, f"cannot be read; moved to {aside}")
                )
            self.transaction = FolderTransaction(self.layout)
            self._entries_file = open(self.layout.entries_partial, "wb")  # noqa: SIM115
            self._sidecar = SidecarWriter.continuing(self._open_entries())
            for entry in plan.carried:
                self._sidecar.entry(entry)

    def _begin_segment(self, segment: int) -> None:
        self._segment = segment
        self._video = self.layout.video_name(segment, self.job.settings.codec)
        self._in_segment = 0
        self._started = time.monotonic()
        self._records = SegmentDocument(self.job.relative)  # the new segment's own records

    def _open_entries(self) -> BinaryIO:
        """A new gzip member at the end of the entries file, for the entries that follow."""
        self._entries = gzip.GzipFile(fileobj=self._entries_file, mode="wb", mtime=0)
        return self._entries  # type: ignore[return-value]

    def add(self, file: LibraryFile, meta: PhotoMetadata, result: FittedFile | UnreadablePhoto):
        """Append one photo file: its images to the new segment, or its bytes to the kept files."""
        path = self.job.folder / file.name
        version = self._next_version(file.name)
        self._warn_about_name(file)
        if isinstance(result, FittedFile) and result.read_as:  # the version it read, whole
            file = replace(file, size=result.read_as[0], mtime_ns=result.read_as[1])
        if isinstance(result, UnreadablePhoto) and result.reason == CHANGED_WHILE_READ:
            self.reporter.problem(problem(path, f"{CHANGED_WHILE_READ}; tried again next run"))
            self._skipped.append(SkippedRecord(file.name, CHANGED_WHILE_READ, retry=True))
        elif isinstance(result, UnreadablePhoto):
            if self._keep(file, version, result.reason):
                self.reporter.problem(problem(path, f"{result.reason} (original kept)"))
        elif is_changed_in_place(self._newest.get(file.name, ()), file, result.sha256):
            self.rotted.append(file.name)
            self.reporter.problem(problem(path, CHANGED_IN_PLACE))
        else:
            trailer = self._keep_trailer(file, version, result.trailer)
            for fitted in result.images:
                record = self._encode(file, meta, fitted, version)
                self._append(replace(record, trailer=trailer) if fitted.image == 1 else record)
                checkpoint("frame")
            self._skipped += [
                SkippedRecord(file.name + label, what) for label, what in result.auxiliary
            ]
            if meta.problem:
                self.reporter.problem(problem(path, f"{meta.problem} (photo kept)", NOTE))
            whole = self._kept_whole_because(file, result)
            if whole:
                self._keep(file, version, whole)
        self.reporter.files_done(1)
        part_done = self._in_segment >= PART_PHOTOS or (
            self._in_segment and time.monotonic() - self._started >= PART_SECONDS
        )
        if part_done:
            with self.aborting():
                self._commit("")  # a fingerprint no folder has: not up to date yet
                self.transaction = FolderTransaction(self.layout, clean=False)
                self._sidecar = SidecarWriter.continuing(self._open_entries())
                self._begin_segment(self._segment + 1)
            checkpoint("part-committed")

    def add_others(self) -> None:
        """Keep the folder's new or changed videos, sidecar files and other files byte for byte,
        or list them as not backed up where the policy says to skip them."""
        handling = self.job.handling
        for file in self.plan.others:
            self._warn_about_name(file)
            choice = {VIDEO: handling.videos, OTHER: handling.other}.get(file.kind, "keep")
            if choice == "skip":
                key = "videos" if file.kind == VIDEO else "other"
                self._skipped.append(SkippedRecord(file.name, f"{key}: skip, in the policy"))
            else:
                kept = self._keep(file, self._next_version(file.name), file.kind)
                if file.kind == VIDEO and kept and not _plays(self.job.folder / file.name):
                    what = "not a video that can be played (kept byte for byte)"
                    self.reporter.problem(problem(self.job.folder / file.name, what, NOTE))
            self.reporter.files_done(1)

    def finish(self) -> FolderOutcome:
        """Flush the encoder, write the segments, and commit (see transaction.py)."""
        with self.aborting():
            self._commit(self.job.fingerprint)
            assert self._entries_file is not None
            self._entries_file.close()  # not left to the garbage collector
            self.layout.entries_partial.unlink()
        return FolderOutcome.holding(
            self.job,
            "done" if self.job.files else "removed",
            holdings(self._counted, tuple(self._skipped)),
            stored_bytes(self.layout, self._stored),
            encoded=self.frames,
            flattened=tuple(self.flattened),
            changed_in_place=tuple(self.rotted),
            damaged=tuple(self.plan.damaged.values()),
            repaired=_wrong(self.plan.index.said(self.layout)),
        )

    def _commit(self, fingerprint: str) -> None:
        """Close the segment being written and commit it with every entry so far."""
        assert self.transaction is not None and self._entries is not None
        new_videos = []
        if self._writer is not None:
            self._segments.append(self._close_video())
            self._writer = None  # closed: nothing left to abort
            new_videos.append(self._video)
        self._entries.close()  # ends a gzip member; the file goes on taking more
        assert self._entries_file is not None
        self._entries_file.flush()
        SidecarWriter(self.transaction.sidecar, self.job.relative, fingerprint)  # the head
        self.transaction.append_members(self.layout.entries_partial)
        sidecar = SidecarWriter.continuing(self.transaction.sidecar)
        for skipped in self._skipped:
            sidecar.skipped(skipped)
        sidecar.finish(self._segments)
        self.transaction.commit(new_videos)
        self._stored.update(s.video for s in self._segments)

    def _encode(
        self, file: LibraryFile, meta: PhotoMetadata, fitted: FittedPhoto, version: int
    ) -> PhotoRecord:
        s = self.job.settings
        if self._writer is None:
            assert self.transaction is not None
            video = self.transaction.video(self._video)
            self._writer = VideoWriter(video, s.codec, s.quality, s.box, s.keyframes)
        caption = shown(image_label(file.name, fitted.image)) + (
            f"\n{meta.captured.replace('T', ' ')}" if meta.captured else ""
        )
        seconds, pts = self._writer.write(fitted.letterboxed(s.box), fitted.signature, caption)
        self.frames += 1
        self._in_segment += 1
        if fitted.flattened:
            self.flattened.append(file.name)
            what = f"has transparency: flattened onto {fitted.flattened} so that it stays visible"
            self.reporter.problem(problem(self.job.folder / file.name, what, NOTE))
        return PhotoRecord(
            segment=self._segment,
            index=self._in_segment - 1,
            time=seconds,
            pts=pts,
            name=file.name,
            bytes=file.size,
            sha256=fitted.sha256,
            mtime_ns=file.mtime_ns,
            width=fitted.size[0],
            height=fitted.size[1],
            orientation=meta.orientation,
            rect=fitted.placement,
            captured=meta.captured,
            tags=meta.tags,
            exif=meta.exif,
            blocks=meta.blocks,
            problem=meta.problem,
            added=self.now,
            version=version,
            image=fitted.image,
            flattened=fitted.flattened,
            converted_from=fitted.converted_from,
        )

    def _kept_whole_because(self, file: LibraryFile, fitted: FittedFile) -> str | None:
        """Why the policy keeps this photo's original byte for byte beside its frames, if so."""
        handling = self.job.handling
        if file.kind == RAW and handling.keep_raw:
            return "RAW original (keep_raw: true, in the policy)"
        flattened = any(image.flattened for image in fitted.images)
        if flattened and file.size < handling.keep_transparent_below:
            return "has transparency (kept whole: smaller than keep_transparent_below)"
        return None

    def _keep_trailer(
        self, file: LibraryFile, version: int, found: tuple[int, str] | None
    ) -> Trailer | None:
        """Keep what follows a JPEG's image (a motion photo's clip) byte for byte, as the
        policy says; None where there is nothing, or it is skipped or cannot be read (listed)."""
        if found is None:
            return None
        start, kind = found
        label = f"{file.name}#after-image"
        if self.job.handling.motion == "skip":
            self._skipped.append(SkippedRecord(label, f"{kind}: motion: skip, in the policy"))
            return None
        stored = self.layout.kept_name(version, f"{file.name}.after-image", self._kept_names)
        assert self.transaction is not None
        try:
            size, sha256 = self.transaction.keep(
                self.job.folder / file.name, stored, file.mtime_ns, start
            )
        except UnreadableSource as error:
            self.reporter.problem(problem(self.job.folder / file.name, f"its {kind}: {error}"))
            self._skipped.append(SkippedRecord(label, str(error), retry=True))
            return None
        return Trailer(stored, size, sha256, kind)

    def _keep(self, file: LibraryFile, version: int, reason: str) -> KeptRecord | None:
        """Keep a file byte for byte. One that cannot be read is listed as not backed up, said
        once, and tried again by every run until it can be (None). An error writing DEST
        propagates."""
        path = self.job.folder / file.name
        stored = self.layout.kept_name(version, file.name, self._kept_names)
        assert self.transaction is not None
        try:
            size, sha256 = self.transaction.keep(path, stored, file.mtime_ns)
        except UnreadableSource as error:
            self.reporter.problem(problem(path, f"{error}; not backed up"))
            self._skipped.append(SkippedRecord(file.name, str(error), retry=True))
            return None
        self._stored.add(stored)
        record = KeptRecord(
            file.name, stored, size, sha256, file.mtime_ns, reason,
            self.now, version=version, kind=file.kind,
        )  # fmt: skip
        self._append(record)
        return record

    def _warn_about_name(self, file: LibraryFile) -> None:
        if why := unportable(file.name):
            self.reporter.problem(
                problem(self.job.folder / file.name, f"backed up, but {why}", NOTE)
            )

    def _next_version(self, name: str) -> int:
        versions = self._newest.get(name, ())
        return (versions[0].version if versions else 0) + 1

    def _append(self, entry: Entry) -> None:
        self._sidecar.entry(entry)
        self._counted.append(_counted(entry))
        if isinstance(entry, PhotoRecord):
            self._records.entry(entry)

    def _close_video(self) -> Segment:
        assert self._writer is not None and self.transaction is not None
        writer, s = self._writer, self.job.settings
        writer.close()
        path = self.transaction.video(self._video)
        segment = Segment(
            id=self._segment,
            video=self._video,
            settings=s,
            frame_format=FRAME_FORMAT,
            encoder=CODECS[s.codec].encoder,
            pix_fmt=CODECS[s.codec].pix_fmt,
            fps=writer.fps,
            time_base=writer.time_base,
            frames=self._in_segment,
            bytes=0,  # not known until the video carries its records
            sha256="",
            created=self.now,
        )
        append_records(path, self._records.finish(segment))
        return replace(segment, bytes=path.stat().st_size, sha256=sha256_file(path))

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
            if self._entries_file is not None:
                with suppress(OSError):
                    self._entries_file.close()
                self.layout.entries_partial.unlink(missing_ok=True)
            problem = destination_error(error, self.dest)
            if problem is not None:
                raise problem from error
            raise


def converted_photos(
    job: FolderJob,
    files: tuple[LibraryFile, ...],
    pool: Parallel,
    window: int,
    share: int | None = None,
) -> Iterator[Converted]:
    """The photo files in capture order, each with its metadata and images, from the pool.

    A first pass reads only capture times and decode costs (the order needs them all);
    everything heavier comes one window at a time, so memory does not grow with the folder.
    A photo whose decode needs more than `share` bytes (a worker's part of the memory budget)
    is decoded while no other is.
    """
    calls = [(job.folder / f.name, f.kind == RAW) for f in files]
    box = job.settings.box
    first = list(pool(delayed(_first_pass)(path, raw, box) for path, raw in calls))
    order = sorted(range(len(files)), key=lambda i: capture_order(files[i], first[i][0]))
    alone = {k for k, i in enumerate(order) if share is not None and first[i][1] > share}
    work = (delayed(convert_photo)(*calls[i], box) for i in order)
    for i, (meta, result) in zip(order, in_order(pool, work, window, alone), strict=True):
        yield files[i], meta, result


def write_folder(
    job: FolderJob,
    dest: Path,
    plan: FolderPlan,
    photos: Iterable[Converted],
    reporter: Reporter,
    now: str,
) -> FolderBackup:
    """Encode a folder's new photos and keep its new files, as .partial files; `finish`
    commits them."""
    backup = FolderBackup(job, dest, plan, reporter, now)
    with backup.aborting():
        for file, meta, result in photos:
            backup.add(file, meta, result)
        backup.add_others()
    return backup


def backup_library(
    jobs: list[FolderJob],
    dest: Path,
    n_jobs: int,
    reporter: Reporter,
    verify_existing: bool = False,
    now: str | None = None,
    memory: int = DEFAULT_MEMORY,
) -> Iterator[FolderOutcome]:
    """Back up every folder that is not up to date, sharing one worker pool across them.

    A folder's encoder flushes and its files are committed in a second thread while the pool
    already decodes the next folder's first frames, so the cores do not idle between folders;
    the next encoder starts only once that commit is over, so one encoder's memory at a time.
    Yields each folder's outcome as it is settled, so an interrupted run can still report.
    A DEST that cannot take more raises DestinationError. `memory` is the budget, in bytes,
    for the decodes the workers run at once.
    """
    now = now or run_started()
    window = max(4, 3 * n_jobs)
    with (
        Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1, pre_dispatch="all") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="photorescue-commit") as committer,
    ):
        finishing: tuple[Future[FolderOutcome], Said] | None = None
        for job in jobs:
            reporter.folder_started(job)
            said = Said(reporter)  # what is said of this folder goes into its outcome too
            settled = prepare(job, dest, said, verify_existing, now)
            if isinstance(settled, FolderPlan):
                photos = converted_photos(job, settled.todo, pool, window, memory // n_jobs)
                photos = chain(list(islice(photos, 1)), photos)  # starts the pool on this folder
            if finishing is not None:
                yield _with_problems(finishing[0].result(), finishing[1])
                checkpoint("folder-done")
                finishing = None
            if isinstance(settled, FolderOutcome):
                reporter.files_done(len(job.files))
                yield _with_problems(settled, said)
                continue
            reporter.files_done(len(job.files) - len(settled.todo) - len(settled.others))
            step = partial(write_folder, job, dest, settled, photos, said, now)
            written = _or_failed(job, said, step)
            if isinstance(written, FolderOutcome):
                yield _with_problems(written, said)
                continue
            finishing = committer.submit(_or_failed, job, said, written.finish), said
        if finishing is not None:
            yield _with_problems(finishing[0].result(), finishing[1])
            checkpoint("folder-done")


def _wrong(said: list[Problem]) -> tuple[str, ...]:
    """What of the index's problems counts against the backup (the outcome's `repaired`)."""
    return tuple(str(p) for p in said if p.weight)


def _with_problems(outcome: FolderOutcome, said: Said) -> FolderOutcome:
    return replace(outcome, problems=tuple(said.problems))


def prepare(
    job: FolderJob, dest: Path, reporter: Reporter, verify_existing: bool, now: str
) -> FolderPlan | FolderOutcome:
    """The folder's plan, or its outcome if there is nothing to write (or it cannot be read)."""
    if not verify_existing:
        commit = committed(job, dest)
        if commit is not None:
            output = stored_bytes(job.layout(dest), commit.stored_files())
            return FolderOutcome.holding(job, "up to date", commit.holdings, output)
    plan = plan_folder(job, dest, now, verify_existing)
    layout = job.layout(dest)
    for said in plan.index.said(layout):
        reporter.problem(said)
    for damage in plan.damaged.values():
        what = f"{damage}; its photos still in the library are encoded again"
        reporter.problem(problem(layout.directory, what))
    for name in plan.rotted:
        reporter.problem(problem(job.folder / name, CHANGED_IN_PLACE))
    if plan.changes_nothing and plan.previous and plan.previous.fingerprint == job.fingerprint:
        record = plan.previous
        held = holdings(list(record.entries), record.skipped)
        output = stored_bytes(job.layout(dest), record.stored_files())
        return FolderOutcome.holding(
            job,
            "up to date",
            held,
            output,
            changed_in_place=plan.rotted,
            damaged=tuple(plan.damaged.values()),
            repaired=_wrong(plan.index.said(job.layout(dest))),
        )
    return plan


def settle_folder(
    job: FolderJob,
    dest: Path,
    pool: Parallel,
    window: int,
    reporter: Reporter,
    now: str,
    verify_existing: bool = False,
) -> FolderOutcome:
    """Back up one folder, from plan to commit, in this thread (a Dask worker's task), with
    the same plan `backup_library` makes."""
    said = Said(reporter)
    settled = prepare(job, dest, said, verify_existing, now)
    if isinstance(settled, FolderOutcome):
        return _with_problems(settled, said)
    photos = converted_photos(job, settled.todo, pool, window)
    step = partial(write_folder, job, dest, settled, photos, said, now)
    written = _or_failed(job, said, step)
    if isinstance(written, FolderOutcome):
        return _with_problems(written, said)
    return _with_problems(_or_failed(job, said, written.finish), said)


def _or_failed(job: FolderJob, reporter: Reporter, step: Callable[[], T]) -> T | FolderOutcome:
    """Run a step of a folder's backup; an encoder failure, or a DEST that will not take this
    folder, fails this folder, not the run."""
    try:
        return step()
    except av.FFmpegError as error:
        reporter.problem(problem(job.folder, f"the encoder failed: {error}; folder not done"))
        return FolderOutcome(
            job.relative, "failed", 0, job.input_bytes, 0, reason=f"encoder: {error}"
        )
    except FolderUnwritable as error:
        reporter.problem(problem(job.folder, f"{error}; folder not done"))
        return FolderOutcome(job.relative, "failed", 0, job.input_bytes, 0, reason=str(error))


def capture_order(file: LibraryFile, captured: str | None) -> tuple[bool, str, str]:
    """EXIF DateTimeOriginal, then file name; photos without a date go last, by name."""
    return (captured is None, captured or "", file.name)


def _first_pass(path: Path, raw: bool, box: int) -> tuple[str | None, int]:
    """The pool task of the first pass: the capture time and the decode's memory, only what
    the order and the memory budget need, so a big folder stays small."""
    as_worker()
    if not isinstance(_version(path), tuple):
        return None, 0  # convert_photo says what it is
    captured = read_metadata(path, raw, with_blocks=False).captured
    captured = captured or read_metadata(path, raw).captured  # from XMP or IPTC, if not EXIF
    return captured, decode_cost(path, raw, box)


def convert_photo(
    path: Path, raw: bool, box: int
) -> tuple[PhotoMetadata, FittedFile | UnreadablePhoto]:
    """The pool task: a photo file's metadata and images, or why there are none.

    All of it comes from one version of the file: its size and mtime are taken before and
    after the reads, and a file rewritten meanwhile (by a photo manager, a sync client) is
    read again, then given up on for this run (the next one tries again)."""
    as_worker()
    for _ in range(READ_TRIES):
        before = _version(path)
        if isinstance(before, str):  # it was a file when the walk saw it
            return PhotoMetadata(), UnreadablePhoto(path, f"cannot read: {before}")
        meta, result = _read_photo(path, raw, box)
        if _version(path) == before:
            if before is not None and isinstance(result, FittedFile):
                result = replace(result, read_as=before)
            return meta, result
    return PhotoMetadata(), UnreadablePhoto(path, CHANGED_WHILE_READ)


def _read_photo(
    path: Path, raw: bool, box: int
) -> tuple[PhotoMetadata, FittedFile | UnreadablePhoto]:
    meta = read_metadata(path, raw)
    checkpoint("metadata-read")
    try:
        fitted = fit_file(path, meta.orientation, box, raw)
    except UnreadablePhoto as error:
        return meta, error
    if raw:
        return meta, fitted
    xmp = next((b.data for b in meta.blocks if b.kind == "xmp"), None)
    try:
        found = find_trailer(path, xmp)
        if found is None:
            return meta, fitted
        if found.inline is not None:  # a stray newline, padding: into the sidecar
            return replace(
                meta, blocks=(*meta.blocks, MetadataBlock(AFTER_IMAGE, found.inline))
            ), fitted
        return meta, replace(fitted, trailer=(found.start, found.kind))
    except OSError as error:
        return meta, UnreadablePhoto(path, f"cannot read: {error.strerror or error}")


def _version(path: Path) -> tuple[int, int] | str | None:
    """A file's (size, mtime_ns); what it is if not a regular file; None if it cannot be
    stat'ed (the read says why)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else not_a_file(st.st_mode)


def _plays(path: Path) -> bool:
    """Whether a kept video opens as one (a broken one is kept all the same, and said so)."""
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.video)
    except (av.FFmpegError, OSError, ValueError):
        return False


def _counted(entry: Entry) -> KeptRecord | PhotoName:
    """What the outcome's counts need of an entry: a photo record's tags and EXIF are left."""
    if isinstance(entry, KeptRecord):
        return entry
    return PhotoName(entry.name, entry.version, entry.removed, entry.trailer)
