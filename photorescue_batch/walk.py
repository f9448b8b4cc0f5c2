"""Walk a library into folder jobs: one per folder that holds a file, each file with its kind."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from photorescue_batch.checksum import not_a_file
from photorescue_batch.config import Handling, Policy, Settings
from photorescue_batch.encode import FRAME_FORMAT
from photorescue_batch.layout import FolderLayout, UnsafePath, folder_path
from photorescue_batch.problems import Problem, problem

# What each kind of file becomes: photos and RAW photos frames; videos, sidecar files and any
# other file are kept byte for byte (or skipped, as the policy says; sidecar files always kept).
PHOTO, RAW, VIDEO, SIDECAR, OTHER = "photo", "raw", "video", "sidecar", "other"
EXTENSIONS = {
    PHOTO: ".jpg .jpeg .jpe .png .tif .tiff .webp .heic .heif .gif .mpo .bmp",
    RAW: ".dng .cr2 .cr3 .crw .nef .nrw .arw .srf .sr2 .orf .rw2 .raf .pef .srw .x3f .3fr .erf "
    ".kdc .mrw .iiq .rwl .mef .mos",
    VIDEO: ".mov .mp4 .m4v .avi .mts .m2ts .3gp .mkv .wmv .mpg .mpeg .webm .mod .tod",
    SIDECAR: ".xmp .aae .json",
}
_KIND_OF = {ext: kind for kind, exts in EXTENSIONS.items() for ext in exts.split()}


def file_kind(name: str) -> str:
    """A file's kind, by its extension in any case."""
    return _KIND_OF.get(os.path.splitext(name)[1].lower(), OTHER)


@dataclass(frozen=True)
class LibraryFile:
    """A file as the walker saw it: enough to tell, without reading it, whether it changed."""

    name: str
    size: int
    mtime_ns: int
    kind: str = PHOTO

    @property
    def is_photo(self) -> bool:
        return self.kind in (PHOTO, RAW)


@dataclass(frozen=True)
class FolderJob:
    """One folder of the library and everything needed to back it up."""

    folder: Path
    relative: str  # POSIX path relative to LIBRARY; '' for LIBRARY itself
    files: tuple[LibraryFile, ...]  # in name order; the pipeline puts photos in capture order
    settings: Settings
    handling: Handling = field(default_factory=Handling)
    hidden: tuple[str, ...] = ()  # hidden files, and hidden folders (with a trailing '/')
    not_files: tuple[tuple[str, str], ...] = ()  # (name, what it is): FIFOs, sockets, ...
    placed: FolderLayout | None = None  # where DEST's rules put it (repair.resolve_folders)

    @property
    def photos(self) -> tuple[LibraryFile, ...]:
        return tuple(f for f in self.files if f.is_photo)

    @property
    def others(self) -> tuple[LibraryFile, ...]:
        return tuple(f for f in self.files if not f.is_photo)

    @property
    def fingerprint(self) -> str:
        """Changes when a file is added, removed or changed, or when the settings change."""
        digest = hashlib.sha256()
        s, h = self.settings, self.handling
        digest.update(f"{FRAME_FORMAT}|{s.box}|{s.codec}|{s.quality}|{s.keyframes}".encode())
        digest.update(f"|{h.videos}|{h.other}|{h.keep_raw}|{h.keep_transparent_below}".encode())
        # (Only a changed default counts: the fingerprints of backups made before it stay.)
        digest.update(b"|motion=skip\n" if h.motion == "skip" else b"\n")
        for f in self.files:
            digest.update(os.fsencode(f.name) + f"|{f.size}|{f.mtime_ns}\n".encode())
        for name in self.hidden:
            digest.update(b"hidden|" + os.fsencode(name) + b"\n")
        for name, what in self.not_files:
            digest.update(os.fsencode(f"{what}|{name}\n"))
        return digest.hexdigest()

    @property
    def input_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def layout(self, dest: Path) -> FolderLayout:
        return self.placed or FolderLayout.of(dest, self.relative)


_NOT_ON_WINDOWS = set('\\:*?"<>|')
MAX_NAME_BYTES = 255  # ext4, NTFS (in UTF-16 units), exFAT, APFS


def unportable(name: str) -> str | None:
    """Why a file name may fail to restore on a common filesystem (a USB stick's exFAT, a
    Windows disk), or None. Restore writes it where it can, and names the ones it cannot."""
    bad = sorted(_NOT_ON_WINDOWS & set(name))
    if bad:
        return f"{' '.join(bad)} cannot be in a file name on Windows, exFAT or NTFS disks"
    if name.endswith((".", " ")):
        return "a name ending in a dot or a space cannot be written on Windows disks"
    if len(os.fsencode(name)) > MAX_NAME_BYTES - 10:
        return "so long a name leaves no room for the suffix restore may add (.jpg, ~2)"
    return None


def is_hidden(name: str) -> bool:
    """Hidden files and folders (and macOS '._x.jpg' AppleDouble files) are not backed up."""
    return name.startswith(".")


@dataclass
class WalkReport:
    """What the walk met besides the jobs: folders it could not list, hidden entries elsewhere."""

    problems: list[Problem] = field(default_factory=list)
    hidden: int = 0  # hidden files and folders in folders that hold nothing else


def walk_library(
    library: Path, dest: Path, policy: Policy, report: WalkReport | None = None
) -> Iterator[FolderJob]:
    """Yield a job for every folder under LIBRARY that holds a file, in a stable order.

    Hidden folders and files are not backed up (each job names its own; `report` counts the
    others), and neither is DEST when it lies inside LIBRARY. Symlinked folders are followed
    once each, so a link loop cannot hang the walk. A folder that cannot be listed goes to
    `report.problems`, never silently left out.
    """
    report = report if report is not None else WalkReport()
    library = library.resolve()
    dest = dest.resolve()
    seen: set[tuple[int, int]] = set()

    def unlistable(error: OSError) -> None:
        what = f"cannot list: {error.strerror}; its files are not backed up"
        report.problems.append(problem(error.filename, what))

    for folder, dirs, names in os.walk(library, onerror=unlistable, followlinks=True):
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
        hidden = sorted(
            [n for n in names if is_hidden(n)] + [d + "/" for d in dirs if is_hidden(d)]
        )
        dirs[:] = sorted(d for d in dirs if not is_hidden(d) and (here / d).resolve() != dest)
        files, not_files = _files_in(here, [n for n in names if not is_hidden(n)])
        if not files and not not_files:
            report.hidden += len(hidden)
            continue
        relative = here.relative_to(library).as_posix()
        relative = "" if relative == "." else relative
        yield FolderJob(
            folder=here,
            relative=relative,
            files=files,
            settings=policy.settings_for(relative),
            handling=policy.handling_for(relative),
            hidden=tuple(hidden),
            not_files=not_files,
        )


def vanished_jobs(
    library: Path, backed_up: Iterable[str], jobs: list[FolderJob], policy: Policy
) -> list[FolderJob]:
    """Jobs with no files for backed-up folders the walk did not find, so that their files
    are marked removed. A folder that exists but cannot be listed is left alone: the walk has
    already said so, and its files may all still be there."""
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
            if any(not is_hidden(e.name) and not e.is_dir() for e in os.scandir(folder)):
                continue  # files the walk skipped (under a hidden folder, say): not removed
        except FileNotFoundError:
            pass
        except OSError:
            continue
        settings, handling = policy.settings_for(relative), policy.handling_for(relative)
        vanished.append(FolderJob(folder, relative, (), settings, handling))
    return vanished


def _files_in(
    folder: Path, names: list[str]
) -> tuple[tuple[LibraryFile, ...], tuple[tuple[str, str], ...]]:
    """The folder's regular files, and what else it holds that is not a folder, with what it
    is: those are never opened (a FIFO would block the reader for ever)."""
    files, not_files = [], []
    for name in sorted(names):
        try:
            st = (folder / name).stat()
        except FileNotFoundError:
            what = "a link to nowhere" if (folder / name).is_symlink() else "gone while walking"
            not_files.append((name, what))
            continue
        except OSError as error:
            not_files.append((name, f"cannot read: {error.strerror or error}"))
            continue
        if stat.S_ISREG(st.st_mode):
            files.append(LibraryFile(name, st.st_size, st.st_mtime_ns, file_kind(name)))
        elif not stat.S_ISDIR(st.st_mode):
            not_files.append((name, not_a_file(st.st_mode)))
    return tuple(files), tuple(not_files)
