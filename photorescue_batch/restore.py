"""`photorescue restore`: give the photos back as files, with their names, dates and EXIF."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image

from photorescue_batch.catalog import (
    BackedUpFolder,
    UnsafePath,
    folder_path,
    safe_relative,
)
from photorescue_batch.decode import DecodeStats, frames_at
from photorescue_batch.metadata import EXIF_HEADER, upright_exif
from photorescue_batch.sidecar import PhotoRecord, UnconvertedRecord

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe")
NAMES_LOG = "photorescue-restored-names.tsv"
MAX_EXIF = 65533  # what one JPEG APP1 segment can carry


@dataclass
class RestoreResult:
    restored: int = 0
    problems: list[str] = field(default_factory=list)
    stats: DecodeStats = field(default_factory=DecodeStats)


def restore(
    folders: list[BackedUpFolder],
    out: Path,
    selections: list[str],
    quality: int = 92,
    force: bool = False,
    progress: Callable[[int], None] = lambda _: None,
) -> RestoreResult:
    """Restore the backup's folders, or those folders and photos named by their library paths."""
    result = RestoreResult()
    wanted = [s.strip("/") for s in selections]
    matched: set[str] = set()
    renamed: list[tuple[str, str]] = []
    for folder in folders:
        try:
            base = out / folder_path(folder.record.folder)
            photos = [p for p in folder.record.photos if _selected(folder, p.name, wanted, matched)]
            kept = [
                u for u in folder.record.unconverted if _selected(folder, u.name, wanted, matched)
            ]
            targets = {p.name: _target(base, out, _restored_name(p.name, folder)) for p in photos}
            targets.update({u.name: _target(base, out, u.name) for u in kept})
        except UnsafePath as error:
            result.problems.append(f"{folder.sidecar}: {error}; refusing to restore this folder")
            continue
        todo = [p for p in photos if _writable(targets[p.name], force, result)]
        if todo:
            _restore_frames(folder, todo, targets, quality, result, progress)
        for record in kept:
            if _writable(targets[record.name], force, result):
                _restore_original(folder, record, targets[record.name], result)
                progress(1)
        renamed += [
            (
                str(targets[p.name].relative_to(out)),
                str(PurePosixPath(folder.record.folder) / p.name),
            )
            for p in todo
            if targets[p.name].name != p.name
        ]
    for selection in wanted:
        if selection not in matched:
            result.problems.append(f"{selection}: not in the backup")
    if renamed:
        with open(out / NAMES_LOG, "a", encoding="utf-8") as log:
            log.writelines(f"{restored}\t{original}\n" for restored, original in renamed)
    return result


def count_selected(folders: list[BackedUpFolder], selections: list[str]) -> int:
    """How many photos a restore will write, for the progress bar."""
    wanted = [s.strip("/") for s in selections]
    total = 0
    for folder in folders:
        names = [p.name for p in folder.record.photos] + [u.name for u in folder.record.unconverted]
        total += sum(_selected(folder, n, wanted, set()) for n in names)
    return total


def _restore_frames(
    folder: BackedUpFolder,
    photos: list[PhotoRecord],
    targets: dict[str, Path],
    quality: int,
    result: RestoreResult,
    progress: Callable[[int], None],
) -> None:
    by_pts = {folder.record.pts(p): p for p in photos}
    try:
        for pts, rgb in frames_at(folder.video, list(by_pts), result.stats):
            photo = by_pts[pts]
            r = photo.rect
            image = Image.fromarray(rgb[r.y : r.y + r.h, r.x : r.x + r.w])
            note = _save_jpeg(image, photo, targets[photo.name], quality)
            if note:
                result.problems.append(f"{targets[photo.name]}: {note}")
            result.restored += 1
            progress(1)
    except (OSError, ValueError) as error:
        result.problems.append(f"{folder.video}: cannot decode: {error}")


def _save_jpeg(image: Image.Image, photo: PhotoRecord, target: Path, quality: int) -> str | None:
    """Write the photo atomically with its EXIF made upright, and give it its original mtime."""
    exif, note = b"", None
    if photo.exif:
        try:
            exif = EXIF_HEADER + upright_exif(photo.exif, image.width, image.height)
        except ValueError as error:
            note = f"EXIF not restored: {error}"
        if len(exif) > MAX_EXIF:
            exif, note = b"", "EXIF not restored: larger than a JPEG segment can hold"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    image.save(partial, "JPEG", quality=quality, exif=exif)
    os.replace(partial, target)
    os.utime(target, ns=(photo.mtime_ns, photo.mtime_ns))
    return note


def _restore_original(
    folder: BackedUpFolder, record: UnconvertedRecord, target: Path, result: RestoreResult
) -> None:
    """A photo that was kept unconverted comes back as its original bytes."""
    source = folder.unconverted_dir / safe_relative(record.name)
    try:
        data = source.read_bytes()
    except OSError as error:
        result.problems.append(f"{source}: cannot read the kept original: {error.strerror}")
        return
    if record.sha256 and hashlib.sha256(data).hexdigest() != record.sha256:
        result.problems.append(f"{source}: the kept original does not match its checksum")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    os.utime(target, ns=(record.mtime_ns, record.mtime_ns))
    result.restored += 1


def _selected(folder: BackedUpFolder, name: str, wanted: list[str], matched: set[str]) -> bool:
    if not wanted:
        return True
    path = f"{folder.record.folder}/{name}" if folder.record.folder else name
    hit = False
    for selection in wanted:
        if selection in ("", ".") or path == selection or path.startswith(selection + "/"):
            matched.add(selection)
            hit = True
    return hit


def _restored_name(name: str, folder: BackedUpFolder) -> str:
    """JPEGs keep their name; other formats come back as JPEG under a .jpg name beside it."""
    if name.lower().endswith(JPEG_SUFFIXES):
        return name
    stem = name.rsplit(".", 1)[0] + ".jpg"
    taken = {p.name.lower() for p in folder.record.photos} | {
        u.name.lower() for u in folder.record.unconverted
    }
    return stem if stem.lower() not in taken else name + ".jpg"


def _target(base: Path, out: Path, name: str) -> Path:
    """Where a photo goes, refused unless it stays inside OUT (symlinks in OUT included)."""
    relative = safe_relative(name)
    if len(relative.parts) != 1:
        raise UnsafePath(f"unsafe name {name!r} in sidecar")
    target = base / relative
    root = out.resolve()
    resolved = target.parent.resolve() / target.name
    if resolved != root and root not in resolved.parents:
        raise UnsafePath(f"{name!r} would be written outside {out}")
    return target


def _writable(target: Path, force: bool, result: RestoreResult) -> bool:
    if target.exists() and not force:
        result.problems.append(f"{target}: exists; not overwritten (use --force)")
        return False
    return True
