"""What a run must do for one folder: compare the library as it is with what the backup holds.

The backup is append-only (as borg and restic treat an archive): only files that are new, or
changed by name, size or mtime, or photos whose newest frames were made with other settings,
are read, into a new segment and new kept files. Files the library no longer holds stay, marked
removed; a photo whose bytes changed while its size and mtime did not is never re-read by a
plain rerun.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from photorescue_batch.checksum import sha256_file
from photorescue_batch.encode import FRAME_FORMAT
from photorescue_batch.layout import FolderLayout
from photorescue_batch.repair import FolderIndex, folder_index
from photorescue_batch.sidecar import (
    Entry,
    FolderRecord,
    PhotoRecord,
    Segment,
    kept_whole,
    newest_versions,
)
from photorescue_batch.transaction import damaged_segments
from photorescue_batch.walk import RAW, FolderJob, LibraryFile

# What a run and verify say of a photo whose bytes changed while its size and mtime did not.
CHANGED_IN_PLACE = (
    "changed in place (possible bit rot): same size and mtime as when it was backed up, "
    "other bytes; the backup keeps the earlier version"
)


@dataclass(frozen=True)
class FolderPlan:
    """The previous backup of a folder, and what this run adds to it."""

    previous: FolderRecord | None
    carried: tuple[Entry, ...]  # the previous entries, their removed marks brought up to date
    todo: tuple[LibraryFile, ...]  # photos to read and encode
    others: tuple[LibraryFile, ...]  # other files to keep (or skip, as the policy says)
    segment: int  # the id the new segment gets
    damaged: dict[int, str]  # segments whose video is missing or not as recorded
    rotted: tuple[str, ...] = ()  # photos changed in place (only looked for when asked)
    migrating: bool = False  # the previous record is a schema-1 sidecar under another name
    index: FolderIndex = field(
        default_factory=lambda: FolderIndex(None)
    )  # how the previous record was read (repair.py)

    @property
    def newest(self) -> dict[str, tuple[Entry, ...]]:
        return newest_versions(self.carried)

    @property
    def changes_nothing(self) -> bool:
        return (
            self.previous is not None
            and not self.todo
            and not self.others
            and not self.migrating
            and not self.index.rebuilt
            and self.carried == self.previous.entries
        )


def plan_folder(job: FolderJob, dest: Path, now: str, verify_existing: bool = False) -> FolderPlan:
    """The plan for a folder that is not up to date, from its index: the sidecar, or what the
    folder's own files say where the sidecar is lost or damaged (repair.py)."""
    layout = job.layout(dest)
    legacy = layout.legacy_root()
    if legacy is not None:
        layout = legacy
    index = folder_index(layout, job.relative)
    previous = index.record
    first_free = max(layout.videos_on_disk(), default=0) + 1  # never a name already on disk
    if previous is None:
        return FolderPlan(None, (), job.photos, job.others, first_free, {}, index=index)
    damaged = damaged_segments(layout, previous.segments, verify_existing)
    segments = {s.id: s for s in previous.segments}
    listing = {f.name for f in job.files}
    carried = tuple(_mark_removed(entry, entry.name in listing, now) for entry in previous.entries)
    newest = previous.newest()
    todo, others, rotted = [], [], []
    for file in job.files:
        version = newest.get(file.name, ())
        if not _is_current(version, file, job, segments, damaged, layout):
            (todo if file.is_photo else others).append(file)
        elif verify_existing and _changed_in_place(job.folder / file.name, version):
            rotted.append(file.name)
    return FolderPlan(
        previous,
        carried,
        tuple(todo),
        tuple(others),
        max(max(segments, default=0) + 1, first_free),
        damaged,
        tuple(rotted),
        legacy is not None,
        index,
    )


def is_changed_in_place(version: tuple[Entry, ...], file: LibraryFile, sha256: str) -> bool:
    """Same name, size and mtime as the version backed up, but other bytes: bit rot, most
    likely, and never a reason to replace the good copy."""
    return bool(version) and any(
        e.bytes == file.size
        and e.mtime_ns == file.mtime_ns
        and e.sha256 is not None
        and e.sha256 != sha256
        for e in version
    )


def _is_current(
    version: tuple[Entry, ...],
    file: LibraryFile,
    job: FolderJob,
    segments: dict[int, Segment],
    damaged: dict[int, str],
    layout: FolderLayout,
) -> bool:
    """The backup's newest version of this file is the library's, made the way it is asked,
    and all of it is in DEST (a kept copy deleted from DEST is taken again)."""
    if not version or (version[0].bytes, version[0].mtime_ns) != (file.size, file.mtime_ns):
        return False
    kept = kept_whole(version)
    if kept is not None and kept.stored and not layout.stored(kept.stored).is_file():
        return False
    frames = [e for e in version if isinstance(e, PhotoRecord)]
    if not frames:
        return kept is not None and kept.sha256 is not None  # nothing better to make of it
    if file.kind == RAW and job.handling.keep_raw and kept is None:
        return False  # the policy now keeps RAW originals too
    return all(
        (segment := segments.get(frame.segment)) is not None
        and segment.id not in damaged
        and segment.settings == job.settings
        and segment.frame_format == FRAME_FORMAT
        for frame in frames
    )


def _mark_removed(entry: Entry, in_library: bool, now: str) -> Entry:
    if in_library:
        return replace(entry, removed=None) if entry.removed else entry
    return entry if entry.removed else replace(entry, removed=now)


def _changed_in_place(path: Path, version: tuple[Entry, ...]) -> bool:
    try:
        return is_changed_in_place(version, _stat(path), sha256_file(path))
    except OSError:
        return False  # the frame step reports unreadable files


def _stat(path: Path) -> LibraryFile:
    st = path.stat()
    return LibraryFile(path.name, st.st_size, st.st_mtime_ns)
