"""What a backup holds: its folders, found under DEST through the layout, and the `ls` table."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from photorescue_batch.layout import (
    ESCAPE,
    KEPT,
    LEGACY_KEPT,
    PARTIAL,
    POINTER,
    SIDECAR,
    FolderLayout,
)
from photorescue_batch.repair import folder_index
from photorescue_batch.sidecar import (
    FolderRecord,
    KeptRecord,
    Segment,
    SidecarError,
    holdings,
    read_folder_name,
)


@dataclass(frozen=True)
class BackedUpFolder:
    """One folder of the backup: where its files lie and what its sidecar says."""

    layout: FolderLayout
    record: FolderRecord
    redundant: tuple[str, ...] = ()  # unnamed copies of indexed frames (repair.py)

    @property
    def sidecar(self) -> Path:
        return self.layout.sidecar

    def video(self, segment: Segment) -> Path:
        return self.layout.stored(segment.video)

    def kept_file(self, kept: KeptRecord) -> Path:
        return self.layout.stored(kept.stored)

    @property
    def original_bytes(self) -> int:
        """Every version of every file the backup holds, as the library had them."""
        return sum(e.bytes for e in self.record.entries)

    @property
    def backup_bytes(self) -> int:
        return stored_bytes(self.layout, self.record.stored_files())

    def counts(self) -> dict[str, int]:
        """Files in frames and kept byte for byte (newest versions), removed, older versions."""
        record = self.record
        held = holdings(list(record.entries), record.skipped)
        versions = {(e.name, e.version) for e in record.entries}
        return {
            "photos": held.photos,
            "kept": len(held.kept),
            "not_backed_up": len(held.skipped),
            "removed": held.removed,
            "older_versions": len(versions) - len(record.newest()),
            "segments": len(record.segments),
        }


def stored_bytes(layout: FolderLayout, stored: set[str]) -> int:
    """What one folder's backup takes in DEST: its sidecar, and the videos and kept files it
    names (`stored`, relative to the folder's directory)."""
    paths = {layout.sidecar, layout.pointer, *(layout.directory / name for name in stored)}
    return sum(p.stat().st_size for p in paths if p.is_file())


def backed_up_folders(dest: Path) -> Iterator[tuple[str, FolderLayout]]:
    """Every folder under DEST that has a sidecar, a segment or a kept file: its library path
    and layout, in order.

    Found by walking DEST the way the layout maps the library into it (so a kept file that
    happens to end in `.xml` is never taken for a sidecar), without reading any sidecar.
    """
    for directory, dirs, _ in os.walk(dest):
        here = Path(directory)
        dirs[:] = sorted(d for d in dirs if _is_library_folder(d))
        parts = [p.removesuffix(ESCAPE) for p in here.relative_to(dest).parts]
        layout = FolderLayout.found(here, not parts)
        layout = layout.legacy_root() or layout
        if layout.sidecar.is_file() or layout.videos_on_disk() or any(layout.kept_on_disk()):
            yield _recorded_folder(layout, "/".join(parts)), layout


def _recorded_folder(layout: FolderLayout, guess: str) -> str:
    """The library folder the sidecar says this is (a DEST that refuses some names holds it
    under another: repair.resolve_folders); the path in DEST where it cannot be read."""
    try:
        return read_folder_name(layout.sidecar)
    except SidecarError:
        return guess


def load_folders(dest: Path, on_error: Callable[[str], None]) -> Iterator[BackedUpFolder]:
    """Every folder of the backup, as its index gives it: its sidecar, or what its segments
    and kept files say where the sidecar is lost or damaged (repair.py). What is wrong with
    the index goes to `on_error`, and so does a folder of which nothing can be read."""
    for relative, layout in backed_up_folders(dest):
        index = folder_index(layout, relative)
        for said in index.said(layout):
            on_error(str(said))
        if index.record is None:
            on_error(f"{index.sidecar_error or layout.sidecar}: nothing of this folder can be read")
            continue
        yield BackedUpFolder(layout, index.record, index.redundant)


def ls_rows(folders: list[BackedUpFolder]) -> list[dict[str, object]]:
    """The `ls` table: one row per folder."""
    rows = []
    for f in folders:
        backup = f.backup_bytes
        settings = f.record.segments[-1].settings if f.record.segments else None
        rows.append(
            {
                "folder": f.record.folder or ".",
                **f.counts(),
                "original_bytes": f.original_bytes,
                "backup_bytes": backup,
                "ratio": round(f.original_bytes / backup, 1) if backup else None,
                "last_run": max((s.created for s in f.record.segments), default=None),
                "box": settings.box if settings else None,
                "codec": settings.codec if settings else None,
                "quality": settings.quality if settings else None,
            }
        )
    return rows


def _is_library_folder(name: str) -> bool:
    """A DEST directory that holds a library folder's backup, not one of our own."""
    return not name.startswith(".") and not name.endswith(
        (KEPT, LEGACY_KEPT, PARTIAL, SIDECAR, POINTER)
    )
