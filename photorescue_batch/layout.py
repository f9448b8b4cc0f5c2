"""Where a folder's backup lives in DEST: the one place that names its files.

DEST mirrors the library: folder `A/B` is backed up in `DEST/A/B/`, beside the backups of its own
sub-folders. The files photorescue writes there all end in a reserved suffix (`.mp4`, `.xml`,
`.kept`, `.partial`, …), and a library folder whose name ends in one (or in `~`) gets a `~`
appended in DEST. So no library folder, whatever its name, can land on a backup file: the mapping
is one-to-one and never hits a reserved name, by construction.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from photorescue_batch.destination import DestRules
from photorescue_batch.encode import CODECS

PARTIAL = ".partial"
ESCAPE = "~"
SIDECAR = ".xml.gz"
POINTER = ".xml"  # the sidecar itself before 0.3; a pointer to it since (see sidecar.py)
KEPT = ".kept"
ENTRIES = ".entries"  # only ever a .partial file
LEGACY_KEPT = ".unconverted"  # schema 1 kept unconverted photos here
ROOT_STEM = "library"  # the library's top folder has no name of its own
RESERVED_SUFFIXES = tuple(
    sorted(
        {c.extension for c in CODECS.values()}
        | {SIDECAR, POINTER, KEPT, LEGACY_KEPT, PARTIAL, ".html", ".srt", ".json", ESCAPE}
    )
)


class UnsafePath(Exception):
    """A name in a sidecar that would lead outside its folder: a tampered or broken sidecar."""


def dest_name(name: str) -> str:
    """A library folder's name as it appears in DEST (see the module docstring)."""
    return name + ESCAPE if name.lower().endswith(RESERVED_SUFFIXES) else name


def safe_relative(name: str) -> PurePosixPath:
    """A relative path from a sidecar, refused if it could point outside where it belongs."""
    if not name or "\x00" in name:
        raise UnsafePath(f"unsafe name {name!r} in sidecar")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", ".", "") for part in name.split("/")):
        raise UnsafePath(f"unsafe name {name!r} in sidecar")
    return path


def folder_path(folder: str) -> PurePosixPath:
    """A sidecar's folder path, checked like any name ('' is the top of the library)."""
    return safe_relative(folder) if folder else PurePosixPath()


@dataclass(frozen=True)
class FolderLayout:
    """The files of one library folder's backup, all inside `directory`.

    Segment 1's video is `<stem>.mp4`, segment N's `<stem>.N.mp4`. Files kept byte for byte go in
    `<stem>.kept/`, and a later version of a name already kept in `<stem>.N.kept/`.
    """

    directory: Path
    stem: str
    rules: DestRules = field(default=DestRules(), compare=False)

    @classmethod
    def of(cls, dest: Path, relative: str) -> FolderLayout:
        """The layout of the folder at `relative` (POSIX, '' for the top) under a DEST that
        holds any name (see `repair.resolve_folders` for one that does not)."""
        parts = folder_path(relative).parts
        directory = dest.joinpath(*(dest_name(p) for p in parts))
        return cls(directory, parts[-1] if parts else ROOT_STEM)

    @classmethod
    def found(cls, directory: Path, top: bool) -> FolderLayout:
        """The layout of a folder's backup found at `directory` in DEST."""
        return cls(directory, ROOT_STEM if top else directory.name.removesuffix(ESCAPE))

    @property
    def sidecar(self) -> Path:
        """The folder's sidecar: `<stem>.xml.gz`, or the `<stem>.xml` of a backup made before
        0.3 and not written to since."""
        compressed, plain = self.new_sidecar, self.pointer
        return plain if not compressed.exists() and plain.exists() else compressed

    @property
    def new_sidecar(self) -> Path:
        """Where a run writes the sidecar."""
        return self.directory / (self.stem + SIDECAR)

    @property
    def pointer(self) -> Path:
        return self.directory / (self.stem + POINTER)

    def legacy_root(self) -> FolderLayout | None:
        """Where a schema-1 backup kept the library's top folder, if this is that folder and
        its own sidecar does not exist yet: schema 1 named it after the library
        (`DEST/Pictures.xml`), and the only sidecar that can lie in DEST itself."""
        if self.stem != ROOT_STEM or self.sidecar.exists() or not self.directory.is_dir():
            return None
        legacy = sorted(p for p in self.directory.glob("*" + POINTER) if p.is_file())
        return FolderLayout(self.directory, legacy[0].stem) if legacy else None

    @property
    def page(self) -> Path:
        return self.directory / (self.stem + ".html")

    def video_name(self, segment: int, codec: str) -> str:
        number = "" if segment == 1 else f".{segment}"
        return f"{self.stem}{number}{CODECS[codec].extension}"

    def kept_name(self, version: int, name: str, taken: set[str]) -> str:
        """Where the `version`-th copy of a kept file goes, relative to `directory`: under its
        own name where DEST holds it and nothing lies there yet; else under a stand-in, with
        `~2`, `~3`... before its extension. `taken` holds the (folded) names this run chose."""
        number = "" if version == 1 else f".{version}"
        fitted, n = self.rules.fit(name), 1
        while True:
            stored = f"{self.stem}{number}{KEPT}/{_numbered(fitted, n)}"
            folded = self.rules.fold(stored)
            if folded not in taken and not (self.directory / stored).exists():
                taken.add(folded)
                return stored
            n += 1

    def subtitles(self, video: str) -> Path:
        return self.directory / (PurePosixPath(video).stem + ".srt")

    def stored(self, name: str) -> Path:
        """A file the sidecar names (a segment's video, a kept file), checked to stay inside."""
        return self.directory / safe_relative(name)

    def partial(self, path: Path) -> Path:
        return path.with_name(path.name + PARTIAL)

    @property
    def entries_partial(self) -> Path:
        """A run's entries for the folder's sidecar, as they come (see pipeline.FolderBackup)."""
        return self.directory / (self.stem + ENTRIES + PARTIAL)

    @property
    def kept_partial(self) -> Path:
        """Files kept by a run wait here (mirroring their final paths) until it commits."""
        return self.directory / (self.stem + KEPT + PARTIAL)

    def remove_partials(self) -> None:
        """Delete the partial files of a run that was stopped before it committed. Nothing
        else is ever deleted: a video or kept file the sidecar does not name is still a copy of
        the library (see repair.py), and `.partial` names are ours alone."""
        for path in self._entries():
            if path.name.endswith(PARTIAL) and self._makes(path.name):
                _remove(path)

    def videos_on_disk(self) -> dict[int, Path]:
        """The segment videos in the folder's directory, by segment number, named or not."""
        videos = {}
        for path in self._entries():
            match = self._video.fullmatch(path.name)
            if match and path.is_file():
                videos[int(match.group(1) or 1)] = path
        return videos

    def kept_on_disk(self) -> Iterator[tuple[int, str]]:
        """(version, stored name) of every file in the folder's kept directories."""
        kept = re.compile(rf"{re.escape(self.stem)}(?:\.([1-9][0-9]*))?{re.escape(KEPT)}")
        for path in self._entries():
            match = kept.fullmatch(path.name)
            if match and path.is_dir() and not path.is_symlink():
                for file in sorted(path.iterdir()):
                    if file.is_file():
                        yield int(match.group(1) or 1), f"{path.name}/{file.name}"

    def set_aside(self) -> Path:
        """Move a sidecar that cannot be read out of the way, never deleting it:
        `<stem>.damaged.xml.gz` (then `.damaged.2.xml.gz`, ...)."""
        n = 1
        while (
            aside := self.directory / f"{self.stem}.damaged{f'.{n}' if n > 1 else ''}{SIDECAR}"
        ).exists():
            n += 1
        os.replace(self.new_sidecar, aside)
        return aside

    @property
    def _video(self) -> re.Pattern[str]:
        extensions = "|".join(re.escape(c.extension) for c in CODECS.values())
        return re.compile(rf"{re.escape(self.stem)}(?:\.([1-9][0-9]*))?(?:{extensions})")

    def _makes(self, name: str) -> bool:
        """Whether `name` (less any `.partial`) is one this layout gives its files."""
        name = name.removesuffix(PARTIAL)
        own = {self.new_sidecar.name, self.pointer.name, self.stem + KEPT, self.stem + ENTRIES}
        return name in own or self._video.fullmatch(name) is not None

    def _entries(self) -> list[Path]:
        return list(self.directory.iterdir()) if self.directory.is_dir() else []


def _numbered(name: str, n: int) -> str:
    """`IMG.MOV` as the n-th of its name: `IMG~2.MOV` for n = 2."""
    if n == 1:
        return name
    stem, dot, extension = name.rpartition(".")
    return f"{stem}~{n}.{extension}" if dot and stem else f"{name}~{n}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
