"""Walk a library into folder jobs: one job per folder that holds at least one photo."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from photorescue_batch.config import Policy, Settings
from photorescue_batch.encode import FRAME_FORMAT
from photorescue_batch.layout import FolderLayout, UnsafePath, folder_path

PHOTO_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"}
)


@dataclass(frozen=True)
class PhotoFile:
    """A photo as the walker saw it: enough to tell, without reading it, whether it changed."""

    name: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class FolderJob:
    """One folder of the library and everything needed to back it up."""

    folder: Path
    relative: str  # POSIX path relative to LIBRARY; '' for LIBRARY itself
    photos: tuple[PhotoFile, ...]  # in name order; the pipeline puts them in capture order
    settings: Settings

    @property
    def fingerprint(self) -> str:
        """Changes when a photo is added, removed or changed, or when the settings change."""
        digest = hashlib.sha256()
        s = self.settings
        digest.update(f"{FRAME_FORMAT}|{s.box}|{s.codec}|{s.quality}|{s.keyframes}\n".encode())
        for p in self.photos:
            digest.update(os.fsencode(p.name) + f"|{p.size}|{p.mtime_ns}\n".encode())
        return digest.hexdigest()

    @property
    def input_bytes(self) -> int:
        return sum(p.size for p in self.photos)

    def layout(self, dest: Path) -> FolderLayout:
        return FolderLayout.of(dest, self.relative)


def is_photo(name: str) -> bool:
    """Recognised by extension in any case; hidden files (e.g. macOS '._x.jpg') are not photos."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in PHOTO_EXTENSIONS


def walk_library(
    library: Path, dest: Path, policy: Policy, on_error: Callable[[str], None] = lambda _: None
) -> Iterator[FolderJob]:
    """Yield a job for every folder under LIBRARY that holds a photo, in a stable order.

    Hidden folders and DEST (when it lies inside LIBRARY) are skipped; symlinked folders are
    followed once each, so a link loop cannot hang the walk. A folder that cannot be listed is
    passed to `on_error`, never silently left out.
    """
    library = library.resolve()
    dest = dest.resolve()
    seen: set[tuple[int, int]] = set()

    def unlistable(error: OSError) -> None:
        on_error(f"{error.filename}: cannot list: {error.strerror}; its photos are not backed up")

    for folder, dirs, files in os.walk(library, onerror=unlistable, followlinks=True):
        here = Path(folder)
        try:
            st = here.stat()
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != dest)
        photos = _photos_in(here, files)
        if not photos:
            continue
        relative = here.relative_to(library).as_posix()
        relative = "" if relative == "." else relative
        yield FolderJob(
            folder=here,
            relative=relative,
            photos=photos,
            settings=policy.settings_for(relative),
        )


def vanished_jobs(
    library: Path, backed_up: Iterable[str], jobs: list[FolderJob], policy: Policy
) -> list[FolderJob]:
    """Jobs with no photos for backed-up folders the walk did not find, so that their photos
    are marked removed. A folder that exists but cannot be listed is left alone: the walk has
    already said so, and its photos may all still be there."""
    walked = {job.relative for job in jobs}
    vanished = []
    for relative in backed_up:
        if relative in walked:
            continue
        try:
            folder = library / folder_path(relative)
        except UnsafePath:
            continue  # a tampered sidecar: verify reports it
        try:
            if any(is_photo(entry.name) for entry in os.scandir(folder)):
                continue  # photos the walk skipped (a hidden parent, say): not removed
        except FileNotFoundError:
            pass
        except OSError:
            continue
        vanished.append(FolderJob(folder, relative, (), policy.settings_for(relative)))
    return vanished


def _photos_in(folder: Path, names: list[str]) -> tuple[PhotoFile, ...]:
    photos = []
    for name in sorted(names):
        if not is_photo(name):
            continue
        try:
            st = (folder / name).stat()
        except OSError:
            # A broken link or a file that vanished: it still counts, so the pipeline reports it.
            photos.append(PhotoFile(name, 0, 0))
            continue
        photos.append(PhotoFile(name, st.st_size, st.st_mtime_ns))
    return tuple(photos)
