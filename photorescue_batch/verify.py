"""`photorescue verify`: prove the backup is intact before the day it is needed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from photorescue_batch.catalog import BackedUpFolder, load_folders
from photorescue_batch.config import load_policy
from photorescue_batch.decode import iter_frames
from photorescue_batch.layout import UnsafePath, folder_path, safe_relative
from photorescue_batch.photo import UnreadablePhoto, fit_file
from photorescue_batch.sidecar import PhotoRecord, Segment
from photorescue_batch.similarity import ssim
from photorescue_batch.transaction import sha256_file
from photorescue_batch.walk import RAW, file_kind, walk_library


@dataclass
class FolderCheck:
    """What verify found for one folder."""

    folder: str
    photos: int = 0  # newest versions that are frames
    kept: int = 0
    not_backed_up: int = 0
    segments: int = 0
    older_versions: int = 0
    problems: list[str] = field(default_factory=list)
    ssims: list[float] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # changed in the library since the backup
    removed: list[str] = field(default_factory=list)  # in the backup, no longer in the library

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass
class VerifyResult:
    folders: list[FolderCheck] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # sidecars that do not parse
    missing: list[str] = field(default_factory=list)  # library photos not in the backup

    @property
    def intact(self) -> bool:
        changed = any(f.changed for f in self.folders)
        return all(f.intact for f in self.folders) and not (
            self.unreadable or self.missing or changed
        )


def verify(
    dest: Path, against: Path | None = None, progress: Callable[[int], None] = lambda _: None
) -> VerifyResult:
    """Decode every frame of every segment and check it all against the sidecars.

    With `against` (the library), also measure the SSIM of each photo's newest version against
    its original, and list library photos missing from the backup, changed since, or removed.
    """
    result = VerifyResult()
    folders = list(load_folders(dest, result.unreadable.append))
    for folder in folders:
        result.folders.append(check_folder(folder, against, progress))
    if against is not None:
        result.missing = missing_from_backup(against, dest, folders)
    return result


def check_folder(
    folder: BackedUpFolder, against: Path | None, progress: Callable[[int], None]
) -> FolderCheck:
    counts = folder.counts()
    check = FolderCheck(
        folder.record.folder or ".",
        photos=counts["photos"],
        kept=counts["kept"],
        not_backed_up=counts["not_backed_up"],
        segments=counts["segments"],
        older_versions=counts["older_versions"],
    )
    library = _library_folder(folder, against, check)
    for segment in folder.record.segments:
        _check_segment(folder, segment, library, check, progress)
    newest = folder.record.newest()
    for kept in folder.record.kept:
        if kept.sha256 is None:
            continue  # recorded as never copied, with why
        try:
            path = folder.kept_file(kept)
        except UnsafePath as error:
            check.problems.append(str(error))
            continue
        if not path.is_file():
            check.problems.append(f"kept file {kept.stored!r} is missing")
        elif sha256_file(path) != kept.sha256:
            check.problems.append(f"kept file {kept.stored!r} does not match its checksum")
        elif library is not None and any(e is kept for e in newest[kept.name]):
            _compare_kept(library, kept.name, kept.sha256, check)
    return check


def _check_segment(
    folder: BackedUpFolder,
    segment: Segment,
    library: Path | None,
    check: FolderCheck,
    progress: Callable[[int], None],
) -> None:
    photos = {p.index: p for p in folder.record.photos if p.segment == segment.id}
    where = f"segment {segment.id} ({segment.video})"
    if len(photos) != segment.frames:
        check.problems.append(
            f"{where}: the sidecar lists {len(photos)} photos for {segment.frames} frames"
        )
    try:
        video = folder.video(segment)
        size = video.stat().st_size
    except (OSError, UnsafePath) as error:
        check.problems.append(f"{where}: video missing or unsafe: {error}")
        return
    if size != segment.bytes:
        check.problems.append(f"{where}: video is {size} bytes, the sidecar says {segment.bytes}")
    elif sha256_file(video) != segment.sha256:
        check.problems.append(f"{where}: video checksum does not match the sidecar")
    newest = folder.record.newest()
    decoded = 0
    try:
        for frame in iter_frames(video):
            photo = photos.get(decoded)
            newest_version = newest[photo.name] if photo is not None else ()
            if library is not None and any(e is photo for e in newest_version):
                _compare(library, photo, frame, segment, check)
            decoded += 1
            progress(1)
    except (av.FFmpegError, OSError) as error:
        check.problems.append(f"{where}: video stops decoding after frame {decoded}: {error}")
    if decoded != segment.frames:
        check.problems.append(
            f"{where}: {decoded} frames decode, the sidecar says {segment.frames}"
        )


def _library_folder(
    folder: BackedUpFolder, against: Path | None, check: FolderCheck
) -> Path | None:
    if against is None:
        return None
    try:
        return against / folder_path(folder.record.folder)
    except UnsafePath as error:
        check.problems.append(str(error))
        return None


def _original(library: Path, name: str, check: FolderCheck) -> Path | None:
    """The library file of a name, or None (counted as removed) if the library lost it."""
    try:
        path = library / safe_relative(name)
    except UnsafePath as error:
        check.problems.append(str(error))
        return None
    if not path.exists():
        if name not in check.removed:  # once for a file, however many images it holds
            check.removed.append(name)
        return None
    return path


def _compare(
    library: Path, photo: PhotoRecord, frame: np.ndarray, segment: Segment, check: FolderCheck
) -> None:
    """SSIM inside the rect against the original, made into the same letterbox content."""
    original = _original(library, photo.name, check)
    if original is None:
        return
    try:
        fitted = fit_file(original, photo.orientation, segment.settings.box, _is_raw(photo.name))
    except UnreadablePhoto as error:
        check.changed.append(f"{photo.name}: {error.reason}")
        return
    reference = next((i for i in fitted.images if i.image == photo.image), None)
    if reference is None:
        check.changed.append(f"{photo.name}: image {photo.image} is not in it any more")
        return
    if reference.sha256 != photo.sha256:
        check.changed.append(f"{photo.name}: {_how_changed(original, photo.bytes, photo.mtime_ns)}")
        return
    r = photo.rect
    content = np.frombuffer(reference.content, np.uint8).reshape(r.h, r.w, 3)
    check.ssims.append(ssim(frame[r.y : r.y + r.h, r.x : r.x + r.w], content))


def _compare_kept(library: Path, name: str, sha256: str, check: FolderCheck) -> None:
    original = _original(library, name, check)
    if original is not None and sha256_file(original) != sha256:
        check.changed.append(f"{name}: changed in the library since the backup")


def _how_changed(original: Path, size: int, mtime_ns: int) -> str:
    st = original.stat()
    if (st.st_size, st.st_mtime_ns) == (size, mtime_ns):
        return (
            "changed in place (possible bit rot): same size and mtime, other bytes; "
            "the backup holds the earlier version"
        )
    return "changed in the library since the backup (the next backup adds the new version)"


def missing_from_backup(library: Path, dest: Path, folders: list[BackedUpFolder]) -> list[str]:
    """Library files that no sidecar accounts for: not in a frame, not kept byte for byte, and
    not listed as not backed up (with why)."""
    accounted = {
        record_path(f.record.folder, name)
        for f in folders
        for name in [e.name for e in f.record.entries] + [s.name for s in f.record.skipped]
    }
    return [
        record_path(job.relative, file.name)
        for job in walk_library(library, dest, load_policy())
        for file in job.files
        if record_path(job.relative, file.name) not in accounted
    ]


def _is_raw(name: str) -> bool:
    return file_kind(name) == RAW


def record_path(folder: str, name: str) -> str:
    """A photo's path relative to the library, as the sidecar records it."""
    return f"{folder}/{name}" if folder else name
