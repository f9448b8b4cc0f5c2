"""What a backup holds: its sidecars, found under DEST, and the `ls` table of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from photorescue_batch.sidecar import FolderRecord, SidecarError, read_sidecar


class UnsafePath(Exception):
    """A name in a sidecar that would lead outside its folder: a tampered or broken sidecar."""


@dataclass(frozen=True)
class BackedUpFolder:
    """One folder of the backup: where its sidecar lies and what it says."""

    sidecar: Path
    record: FolderRecord

    @property
    def directory(self) -> Path:
        return self.sidecar.parent

    @property
    def video(self) -> Path:
        return self.directory / safe_relative(self.record.video.name)

    @property
    def unconverted_dir(self) -> Path:
        return self.directory / (self.sidecar.stem + ".unconverted")

    @property
    def original_bytes(self) -> int:
        return sum(p.bytes for p in self.record.photos) + sum(
            u.bytes for u in self.record.unconverted
        )

    @property
    def backup_bytes(self) -> int:
        video = self.video if self.record.video.frames else None
        return stored_bytes(self.sidecar, video, self.unconverted_dir)


def stored_bytes(sidecar: Path, video: Path | None, unconverted_dir: Path) -> int:
    """What one folder's backup takes in DEST: sidecar, video and kept originals."""
    paths = [sidecar, *([video] if video else [])]
    if unconverted_dir.is_dir():
        paths += unconverted_dir.iterdir()
    return sum(p.stat().st_size for p in paths if p.is_file())


def sidecars(dest: Path) -> Iterator[Path]:
    """Every sidecar under DEST, in a stable order (hidden and .partial files left out)."""
    for path in sorted(dest.rglob("*.xml")):
        if not any(part.startswith(".") for part in path.relative_to(dest).parts):
            yield path


def load_folders(dest: Path, on_error) -> Iterator[BackedUpFolder]:
    """Every readable folder record; each unreadable sidecar goes to `on_error` instead."""
    for path in sidecars(dest):
        try:
            yield BackedUpFolder(path, read_sidecar(path))
        except SidecarError as error:
            on_error(str(error))


def safe_relative(name: str) -> PurePosixPath:
    """A relative path from a sidecar, refused if it could point outside where it belongs."""
    if not name or "\x00" in name or "\\" in name:
        raise UnsafePath(f"unsafe name {name!r} in sidecar")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", "") for part in name.split("/")):
        raise UnsafePath(f"unsafe name {name!r} in sidecar")
    return path


def folder_path(folder: str) -> PurePosixPath:
    """A sidecar's folder path, checked like any name ('' is the top of the library)."""
    return safe_relative(folder) if folder else PurePosixPath()


def ls_rows(folders: list[BackedUpFolder]) -> list[dict[str, object]]:
    """The `ls` table: one row per folder."""
    rows = []
    for f in folders:
        backup = f.backup_bytes
        rows.append(
            {
                "folder": f.record.folder or ".",
                "photos": len(f.record.photos),
                "unconverted": len(f.record.unconverted),
                "original_bytes": f.original_bytes,
                "backup_bytes": backup,
                "ratio": round(f.original_bytes / backup, 1) if backup else None,
                "box": f.record.settings.box,
                "codec": f.record.settings.codec,
                "quality": f.record.settings.quality,
            }
        )
    return rows
