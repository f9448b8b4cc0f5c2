"""What a run must do for one folder: compare the library as it is with what the backup holds.

The backup is append-only (as borg and restic treat an archive): only photos that are new, or
changed by name, size or mtime, or whose newest frame was made with other settings, are read
and encoded, into a new segment. Photos the library no longer holds stay, marked removed; a
photo whose bytes changed while its size and mtime did not is never re-read by a plain rerun.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from photorescue_batch.encode import FRAME_FORMAT
from photorescue_batch.sidecar import Entry, FolderRecord, KeptRecord, PhotoRecord, read_sidecar
from photorescue_batch.transaction import damaged_segments, sha256_file
from photorescue_batch.walk import FolderJob, PhotoFile


@dataclass(frozen=True)
class FolderPlan:
    """The previous backup of a folder, and what this run adds to it."""

    previous: FolderRecord | None
    carried: tuple[Entry, ...]  # the previous entries, their removed marks brought up to date
    todo: tuple[PhotoFile, ...]  # photos to read and encode
    segment: int  # the id the new segment gets
    damaged: dict[int, str]  # segments whose video is missing or not as recorded
    rotted: tuple[str, ...] = ()  # photos changed in place (only looked for when asked)
    migrating: bool = False  # the previous record is a schema-1 sidecar under another name

    @property
    def newest(self) -> dict[str, Entry]:
        return {entry.name: entry for entry in self.carried}

    @property
    def changes_nothing(self) -> bool:
        return (
            self.previous is not None
            and not self.todo
            and not self.migrating
            and self.carried == self.previous.entries
        )


def plan_folder(job: FolderJob, dest: Path, now: str, verify_existing: bool = False) -> FolderPlan:
    """The plan for a folder that is not up to date. Raises SidecarError if the folder's
    sidecar exists but cannot be read: the folder is then left exactly as it is."""
    layout = job.layout(dest)
    legacy = layout.legacy_root()
    if legacy is not None:
        layout = legacy
    previous = read_sidecar(layout.sidecar) if layout.sidecar.exists() else None
    if previous is None:
        return FolderPlan(None, (), job.photos, 1, {})
    damaged = damaged_segments(layout, previous.segments, verify_existing)
    segments = {s.id: s for s in previous.segments}
    listing = {p.name for p in job.photos}
    carried = tuple(_mark_removed(entry, entry.name in listing, now) for entry in previous.entries)
    newest = previous.newest()
    todo, rotted = [], []
    for photo in job.photos:
        entry = newest.get(photo.name)
        if not _is_current(entry, photo, job, segments, damaged):
            todo.append(photo)
        elif (
            verify_existing
            and isinstance(entry, PhotoRecord)
            and _changed_in_place(job.folder / photo.name, entry)
        ):
            rotted.append(photo.name)
    segment = max(segments, default=0) + 1
    return FolderPlan(
        previous, carried, tuple(todo), segment, damaged, tuple(rotted), legacy is not None
    )


def is_changed_in_place(entry: Entry | None, photo: PhotoFile, sha256: str) -> bool:
    """Same name, size and mtime as the version backed up, but other bytes: bit rot, most
    likely, and never a reason to replace the good copy."""
    return (
        entry is not None
        and entry.bytes == photo.size
        and entry.mtime_ns == photo.mtime_ns
        and entry.sha256 is not None
        and entry.sha256 != sha256
    )


def _is_current(entry, photo: PhotoFile, job: FolderJob, segments, damaged) -> bool:
    """The backup's newest version of this photo is the library's, made the way it is asked."""
    if entry is None or (entry.bytes, entry.mtime_ns) != (photo.size, photo.mtime_ns):
        return False
    if isinstance(entry, KeptRecord):
        return entry.sha256 is not None  # kept byte for byte: nothing better to make of it
    segment = segments.get(entry.segment)
    return (
        segment is not None
        and segment.id not in damaged
        and segment.settings == job.settings
        and segment.frame_format == FRAME_FORMAT
    )


def _mark_removed(entry: Entry, in_library: bool, now: str) -> Entry:
    if in_library:
        return replace(entry, removed=None) if entry.removed else entry
    return entry if entry.removed else replace(entry, removed=now)


def _changed_in_place(path: Path, entry: PhotoRecord) -> bool:
    try:
        return sha256_file(path) != entry.sha256
    except OSError:
        return False  # the frame step reports unreadable photos
