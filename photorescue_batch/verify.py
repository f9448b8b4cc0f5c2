"""`photorescue verify`: prove the backup is intact before the day it is needed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from joblib import Parallel, delayed

from photorescue_batch.catalog import BackedUpFolder, load_folders
from photorescue_batch.checksum import sha256_file
from photorescue_batch.config import load_policy
from photorescue_batch.decode import iter_frames
from photorescue_batch.layout import UnsafePath, folder_path, safe_relative
from photorescue_batch.photo import UnreadablePhoto, fit_file
from photorescue_batch.plan import CHANGED_IN_PLACE
from photorescue_batch.sidecar import PhotoRecord, Segment
from photorescue_batch.similarity import ssim
from photorescue_batch.walk import RAW, file_kind, walk_library
from photorescue_batch.workers import as_worker, in_order


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
    colour_errors: list[float] = field(default_factory=list)  # mean levels, R G B, per photo
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
    dest: Path,
    against: Path | None = None,
    progress: Callable[[int], None] = lambda _: None,
    n_jobs: int = 1,
) -> VerifyResult:
    """Decode every frame of every segment and check it all against the sidecars.

    With `against` (the library), also measure each photo's newest version against its
    original (SSIM on luma, and the mean colour error) in `n_jobs` worker processes, and list
    library files missing from the backup, changed since, or removed.
    """
    result = VerifyResult()
    folders = list(load_folders(dest, result.unreadable.append))
    with Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1) as pool:
        for folder in folders:
            result.folders.append(check_folder(folder, against, progress, pool, 3 * n_jobs))
    if against is not None:
        result.missing = missing_from_backup(against, dest, folders)
    return result


def check_folder(
    folder: BackedUpFolder,
    against: Path | None,
    progress: Callable[[int], None],
    pool: Parallel,
    window: int,
) -> FolderCheck:
    """One folder's checks; `window` comparisons at most are in the pool at a time."""
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
        _check_segment(folder, segment, library, check, progress, pool, window)
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
    for photo in folder.record.photos:
        if (t := photo.trailer) is not None:
            try:
                intact = sha256_file(folder.layout.stored(t.stored)) == t.sha256
            except (OSError, UnsafePath):
                intact = False
            if not intact:
                check.problems.append(f"{photo.name}: its {t.kind} ({t.stored!r}) is not intact")
    return check


def _check_segment(
    folder: BackedUpFolder,
    segment: Segment,
    library: Path | None,
    check: FolderCheck,
    progress: Callable[[int], None],
    pool: Parallel,
    window: int,
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

    def comparisons() -> Iterator[Any]:
        """Decode every frame; hand the newest photos' frames to the pool to compare."""
        nonlocal decoded
        for frame in iter_frames(video):
            photo = photos.get(decoded)
            decoded += 1
            progress(1)
            if library is None or photo is None or all(e is not photo for e in newest[photo.name]):
                continue
            r = photo.rect
            crop = np.ascontiguousarray(frame[r.y : r.y + r.h, r.x : r.x + r.w])
            yield delayed(compare)(library, photo, segment.settings.box, crop)

    try:
        for name, found in in_order(pool, comparisons(), max(4, window)):
            _note(check, name, found)
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


def compare(
    library: Path, photo: PhotoRecord, box: int, crop: np.ndarray
) -> tuple[str, tuple[str, object]]:
    """The pool task: one photo's frame (inside its rect) against its original made into the
    same content: ('measured', (SSIM on luma, mean colour error in levels)), or why not."""
    as_worker()
    try:
        original = library / safe_relative(photo.name)
    except UnsafePath as error:
        return photo.name, ("problem", str(error))
    if not original.exists():
        return photo.name, ("removed", None)
    try:
        fitted = fit_file(original, photo.orientation, box, file_kind(photo.name) == RAW)
    except UnreadablePhoto as error:
        return photo.name, ("changed", error.reason)
    reference = next((i for i in fitted.images if i.image == photo.image), None)
    if reference is None:
        return photo.name, ("changed", f"image {photo.image} is not in it any more")
    if reference.sha256 != photo.sha256:
        return photo.name, ("changed", _how_changed(original, photo.bytes, photo.mtime_ns))
    r = photo.rect
    content = np.frombuffer(reference.content, np.uint8).reshape(r.h, r.w, 3)
    error = float(np.abs(crop.astype(np.float32) - content).mean())
    return photo.name, ("measured", (ssim(crop, content), error))


def _note(check: FolderCheck, name: str, found: tuple[str, object]) -> None:
    kind, detail = found
    if kind == "measured":
        score, colour = detail  # type: ignore[misc]
        check.ssims.append(score)
        check.colour_errors.append(colour)
    elif kind == "removed":
        if name not in check.removed:  # once for a file, however many images it holds
            check.removed.append(name)
    elif kind == "changed":
        check.changed.append(f"{name}: {detail}")
    else:
        check.problems.append(str(detail))


def _compare_kept(library: Path, name: str, sha256: str, check: FolderCheck) -> None:
    try:
        original = library / safe_relative(name)
    except UnsafePath as error:
        check.problems.append(str(error))
        return
    if not original.exists():
        _note(check, name, ("removed", None))
    elif sha256_file(original) != sha256:
        check.changed.append(f"{name}: changed in the library since the backup")


def _how_changed(original: Path, size: int, mtime_ns: int) -> str:
    st = original.stat()
    if (st.st_size, st.st_mtime_ns) == (size, mtime_ns):
        return CHANGED_IN_PLACE
    return "changed in the library since the backup (the next backup adds the new version)"


def missing_from_backup(library: Path, dest: Path, folders: list[BackedUpFolder]) -> list[str]:
    """Library files that no sidecar accounts for: not in a frame, not kept byte for byte, and
    not listed as not backed up (with why)."""
    accounted = {
        record_path(f.record.folder, name)
        for f in folders
        for name in [e.name for e in f.record.entries]
        + [s.name for s in f.record.skipped if not s.retry]  # could not be read: not in it
    }
    return [
        record_path(job.relative, file.name)
        for job in walk_library(library, dest, load_policy())
        for file in job.files
        if record_path(job.relative, file.name) not in accounted
    ]


def record_path(folder: str, name: str) -> str:
    """A photo's path relative to the library, as the sidecar records it."""
    return f"{folder}/{name}" if folder else name
