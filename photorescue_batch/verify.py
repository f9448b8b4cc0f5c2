"""`photorescue verify`: prove the backup is intact before the day it is needed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from photorescue_batch.catalog import (
    BackedUpFolder,
    UnsafePath,
    folder_path,
    load_folders,
    safe_relative,
)
from photorescue_batch.config import load_policy
from photorescue_batch.decode import iter_frames
from photorescue_batch.photo import UnreadablePhoto, make_frame
from photorescue_batch.pipeline import sha256_file
from photorescue_batch.similarity import ssim
from photorescue_batch.walk import walk_library


@dataclass
class FolderCheck:
    """What verify found for one folder."""

    folder: str
    photos: int = 0
    problems: list[str] = field(default_factory=list)
    ssims: list[float] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

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
    """Decode every frame of every video and check it all against the sidecars.

    With `against` (the library), also measure each photo's SSIM inside its rect against its
    original, and list library photos that are missing from the backup or changed since.
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
    record = folder.record
    check = FolderCheck(record.folder or ".", photos=len(record.photos))
    problems = check.problems
    if record.video.frames != len(record.photos):
        problems.append(
            f"the sidecar lists {len(record.photos)} photos for {record.video.frames} frames"
        )
    if record.video.frames:
        try:
            video = folder.video
            size = video.stat().st_size
        except (OSError, UnsafePath) as error:
            problems.append(f"video missing or unsafe: {error}")
            return check
        if size != record.video.bytes:
            problems.append(f"video is {size} bytes, the sidecar says {record.video.bytes}")
        elif sha256_file(video) != record.video.sha256:
            problems.append("video checksum does not match the sidecar")
        decoded = _decode_and_compare(folder, against, check, progress)
        if decoded != record.video.frames:
            problems.append(f"{decoded} frames decode, the sidecar says {record.video.frames}")
    for kept in record.unconverted:
        path = folder.unconverted_dir / kept.name
        if not path.is_file():
            problems.append(f"kept original {kept.name!r} is missing")
        elif kept.sha256 and sha256_file(path) != kept.sha256:
            problems.append(f"kept original {kept.name!r} does not match its checksum")
    return check


def _decode_and_compare(
    folder: BackedUpFolder,
    against: Path | None,
    check: FolderCheck,
    progress: Callable[[int], None],
) -> int:
    record = folder.record
    decoded = 0
    try:
        for frame in iter_frames(folder.video):
            if decoded < len(record.photos) and against is not None:
                _compare(folder, record.photos[decoded], frame, against, check)
            decoded += 1
            progress(1)
    except (av.FFmpegError, OSError) as error:
        check.problems.append(f"video stops decoding after frame {decoded}: {error}")
    return decoded


def _compare(folder, photo, frame: np.ndarray, against: Path, check: FolderCheck) -> None:
    """SSIM inside the rect against the original, made into the same letterbox content."""
    try:
        original = against / folder_path(folder.record.folder) / safe_relative(photo.name)
    except UnsafePath as error:
        check.problems.append(str(error))
        return
    try:
        reference = make_frame(original, photo.orientation, folder.record.settings.box)
    except UnreadablePhoto as error:
        check.changed.append(f"{photo.name}: {error.reason}")
        return
    if reference.sha256 != photo.sha256:
        check.changed.append(f"{photo.name}: changed since the backup")
        return
    r = photo.rect
    content = np.frombuffer(reference.content, np.uint8).reshape(r.h, r.w, 3)
    check.ssims.append(ssim(frame[r.y : r.y + r.h, r.x : r.x + r.w], content))


def missing_from_backup(library: Path, dest: Path, folders: list[BackedUpFolder]) -> list[str]:
    """Library photos that no sidecar lists, neither as a frame nor kept unconverted."""
    backed_up = {
        record_path(f.record.folder, name)
        for f in folders
        for name in [p.name for p in f.record.photos] + [u.name for u in f.record.unconverted]
    }
    return [
        record_path(job.relative, photo.name)
        for job in walk_library(library, dest, load_policy())
        for photo in job.photos
        if record_path(job.relative, photo.name) not in backed_up
    ]


def record_path(folder: str, name: str) -> str:
    """A photo's path relative to the library, as the sidecar records it."""
    return f"{folder}/{name}" if folder else name
