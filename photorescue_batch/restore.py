"""`photorescue restore`: give the photos back as files, with their names, dates and EXIF.

Every file comes back as its newest version, those the library has since lost included; older
versions on request.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image

from photorescue_batch.blocks import MetadataBlock, insert_segments, jpeg_segments
from photorescue_batch.catalog import BackedUpFolder
from photorescue_batch.colour import srgb_profile
from photorescue_batch.decode import DecodeStats, frames_at
from photorescue_batch.destination import probe
from photorescue_batch.layout import UnsafePath, folder_path, safe_relative
from photorescue_batch.metadata import EXIF_HEADER, upright_exif
from photorescue_batch.sidecar import (
    Entry,
    KeptRecord,
    PhotoRecord,
    Segment,
    image_label,
    kept_whole,
)
from photorescue_batch.trailer import AFTER_IMAGE

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe")
NAMES_LOG = "photorescue-restored-names.tsv"
MAX_EXIF = 65533  # what one JPEG APP1 segment can carry
PARTIAL_PREFIX = ".photorescue-"


@dataclass
class RestoreResult:
    restored: int = 0
    problems: list[str] = field(default_factory=list)
    stats: DecodeStats = field(default_factory=DecodeStats)


@dataclass(frozen=True)
class Wanted:
    """One version of one file to give back, and the name it comes back under."""

    entry: Entry
    name: str


def restore(
    folders: list[BackedUpFolder],
    out: Path,
    selections: list[str],
    jpeg_quality: int = 92,
    force: bool = False,
    all_versions: bool = False,
    progress: Callable[[int], None] = lambda _: None,
) -> RestoreResult:
    """Restore the newest version of every file of the backup (removed ones included), or of
    the folders and files named by their library paths; older versions too if asked."""
    result = RestoreResult()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fold = probe(out).fold  # names OUT would take for one (a USB stick ignores case)
    except OSError:
        fold = str.casefold  # OUT cannot be written: each file says so, below
    wanted = [s.strip("/") for s in selections]
    matched: set[str] = set()
    renamed: list[tuple[str, str]] = []
    for folder in folders:
        try:
            base = out / folder_path(folder.record.folder)
            chosen = [
                w
                for w in versions_to_restore(folder, all_versions, fold)
                if _selected(folder, w.entry.name, wanted, matched)
            ]
            targets = {id(w): _target(base, out, w.name) for w in chosen}
        except UnsafePath as error:
            result.problems.append(f"{folder.sidecar}: {error}; refusing to restore this folder")
            continue
        _remove_own_partials(base)
        todo = [w for w in chosen if _writable(targets[id(w)], force, result)]
        photos = [w for w in todo if isinstance(w.entry, PhotoRecord)]
        for segment in folder.record.segments:
            in_segment = [w for w in photos if w.entry.segment == segment.id]
            if in_segment:
                _restore_frames(
                    folder, segment, in_segment, targets, jpeg_quality, result, progress
                )
        for w in todo:
            if isinstance(w.entry, KeptRecord):
                _restore_original(folder, w.entry, targets[id(w)], result)
                progress(1)
        renamed += [
            (
                str(targets[id(w)].relative_to(out)),
                str(PurePosixPath(folder.record.folder) / _label(w.entry)),
            )
            for w in todo
            if w.name != w.entry.name
        ]
    for selection in wanted:
        if selection not in matched:
            result.problems.append(f"{selection}: not in the backup")
    if renamed:
        with open(out / NAMES_LOG, "a", encoding="utf-8", errors="surrogateescape") as log:
            log.writelines(f"{restored}\t{original}\n" for restored, original in renamed)
    return result


def versions_to_restore(
    folder: BackedUpFolder, all_versions: bool, fold: Callable[[str], str] = str.casefold
) -> list[Wanted]:
    """The newest version of every file, under its restored name; with `all_versions`, the
    older ones too, as `<stem>.v<N><ext>` (N counts a file's versions from 1, the oldest)."""
    taken = {e.name.lower() for e in folder.record.entries}
    by_name: dict[str, dict[int, list[Entry]]] = {}
    for entry in folder.record.entries:
        by_name.setdefault(entry.name, {}).setdefault(entry.version, []).append(entry)
    chosen = []
    for versions in by_name.values():
        numbers = sorted(versions)
        chosen += _one_version(versions[numbers[-1]], taken, "")
        if all_versions:
            for n, number in enumerate(numbers[:-1], start=1):
                chosen += _one_version(versions[number], taken, f".v{n}")
    return _unique(chosen, fold)


def _unique(chosen: list[Wanted], fold: Callable[[str], str]) -> list[Wanted]:
    """Never two files to one name (`scan.png` and `scan.tif` both want `scan.jpg`), nor to two
    names OUT takes for one (`fold`: on a USB stick, `IMG.MOV` and `img.mov`): later ones get
    `~2`, `~3`... before the extension."""
    used: set[str] = set()
    unique = []
    for wanted in chosen:
        name, n = wanted.name, 1
        while fold(name) in used:
            n += 1
            name = _with_suffix(wanted.name, f"~{n}")
        used.add(fold(name))
        unique.append(Wanted(wanted.entry, name))
    return unique


def _one_version(entries: list[Entry], taken: set[str], suffix: str) -> list[Wanted]:
    """A file's original where it was kept whole, else each of its images as a JPEG: image N
    of a multi-image file as `<stem>-N.jpg`."""
    kept = kept_whole(tuple(entries))
    photos = [e for e in entries if isinstance(e, PhotoRecord)]
    if kept is not None and (kept.sha256 is not None or not photos):
        return [Wanted(kept, _with_suffix(kept.name, suffix))]
    wanted = []
    for photo in photos:
        name = _restored_name(photo, taken)
        if photo.image > 1:
            name = _with_suffix(name, f"-{photo.image}")
        wanted.append(Wanted(photo, _with_suffix(name, suffix)))
    return wanted


def _label(entry: Entry) -> str:
    """A file's name, and which image of it (`DSCF0001.MPO#2`) where it holds several."""
    return image_label(entry.name, entry.image if isinstance(entry, PhotoRecord) else 1)


def _with_suffix(name: str, suffix: str) -> str:
    """`suffix` put before a name's extension: IMG.jpg, -2 -> IMG-2.jpg."""
    stem, dot, extension = name.rpartition(".")
    return f"{stem}{suffix}{dot}{extension}" if dot else name + suffix


def count_selected(folders: list[BackedUpFolder], selections: list[str], all_versions: bool) -> int:
    """How many files a restore will write, for the progress bar."""
    wanted = [s.strip("/") for s in selections]
    return sum(
        _selected(folder, w.entry.name, wanted, set())
        for folder in folders
        for w in versions_to_restore(folder, all_versions)
    )


def _restore_frames(
    folder: BackedUpFolder,
    segment: Segment,
    wanted: list[Wanted],
    targets: dict[int, Path],
    jpeg_quality: int,
    result: RestoreResult,
    progress: Callable[[int], None],
) -> None:
    by_pts: dict[int, list[Wanted]] = {}
    for w in wanted:
        by_pts.setdefault(w.entry.pts, []).append(w)
    try:
        video = folder.video(segment)
        for pts, rgb in frames_at(
            video, list(by_pts), segment.fps, segment.time_base, result.stats
        ):
            for w in by_pts[pts]:
                photo, target = w.entry, targets[id(w)]
                r = photo.rect
                image = Image.fromarray(rgb[r.y : r.y + r.h, r.x : r.x + r.w])
                trailer, lost = _trailer(folder, photo)
                if lost:
                    result.problems.append(f"{target}: restored without its {lost}")
                try:
                    note = _save_jpeg(image, photo, target, jpeg_quality, trailer)
                except OSError as error:
                    result.problems.append(f"{target}: cannot write: {error.strerror or error}")
                    continue
                finally:
                    progress(1)
                if note:
                    result.problems.append(f"{target}: {note}")
                result.restored += 1
    except (OSError, ValueError, UnsafePath) as error:
        result.problems.append(f"{folder.sidecar.parent / segment.video}: cannot decode: {error}")


def _trailer(folder: BackedUpFolder, photo: PhotoRecord) -> tuple[bytes, str | None]:
    """What followed the photo's image in its file (a motion photo's clip), checked against
    its sha256 (b"" where there was nothing), and what went wrong if it cannot be had."""
    t = photo.trailer
    if t is None:
        return b"", None
    try:
        data = folder.layout.stored(t.stored).read_bytes()
    except (OSError, UnsafePath) as error:
        return b"", f"{t.kind} ({t.stored}: {getattr(error, 'strerror', None) or error})"
    if hashlib.sha256(data).hexdigest() != t.sha256:
        return b"", f"{t.kind} ({t.stored}: does not match its checksum)"
    return data, None


def _save_jpeg(
    image: Image.Image, photo: PhotoRecord, target: Path, quality: int, trailer: bytes = b""
) -> str | None:
    """Write the photo atomically with its EXIF made upright, and its trailer (a motion
    photo's clip) after the image's end, where readers look for it; give it its mtime."""
    exif, note = b"", None
    if photo.exif:
        try:
            exif = EXIF_HEADER + upright_exif(photo.exif, image.width, image.height)
        except ValueError as error:
            note = f"EXIF not restored: {error}"
        if len(exif) > MAX_EXIF:
            exif, note = b"", "EXIF not restored: larger than a JPEG segment can hold"
    encoded = io.BytesIO()
    image.save(encoded, "JPEG", quality=quality, exif=exif)
    blocks = list(photo.blocks)
    if photo.converted_from:  # the frame is sRGB now: say so, instead of the original's profile
        blocks = [b for b in blocks if b.kind != "icc"] + [MetadataBlock("icc", srgb_profile())]
    # (A frame made without conversion holds the original's numbers: its own profile applies.)
    jpeg = insert_segments(encoded.getvalue(), jpeg_segments(blocks))
    if photo.image == 1:  # what followed the file's image, small enough for the sidecar
        trailer = b"".join(b.data for b in blocks if b.kind == AFTER_IMAGE) + trailer
    _write_atomically(target, jpeg + trailer, photo.mtime_ns)
    return note


def _remove_own_partials(directory: Path) -> None:
    """What a killed restore left in a folder it writes: its own hidden partial files."""
    if directory.is_dir():
        for stale in directory.glob(f"{PARTIAL_PREFIX}*.partial"):
            stale.unlink(missing_ok=True)


def _partial(target: Path) -> Path:
    """A short hidden temporary name beside `target`: a name as long as the filesystem allows
    must not fail for its temporary twin."""
    return target.with_name(f"{PARTIAL_PREFIX}{secrets.token_hex(4)}.partial")


def _write_atomically(target: Path, data: bytes, mtime_ns: int) -> None:
    """Write a file under a temporary name, then rename it: no half file looks finished."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(target)
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    os.utime(target, ns=(mtime_ns, mtime_ns))


def _restore_original(
    folder: BackedUpFolder, record: KeptRecord, target: Path, result: RestoreResult
) -> None:
    """A file that was kept byte for byte comes back as its original bytes, checked against
    its sha256 as it is copied (a video of several GB never sits in memory)."""
    if record.sha256 is None:
        result.problems.append(f"{target}: not in the backup: {record.reason}")
        return
    try:
        source = folder.kept_file(record)
    except UnsafePath as error:
        result.problems.append(f"{folder.sidecar}: {error}")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(target)
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as kept, open(partial, "wb") as out:
            while block := kept.read(1 << 20):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != record.sha256:
            result.problems.append(f"{source}: the kept file does not match its checksum")
            return
        os.replace(partial, target)
        os.utime(target, ns=(record.mtime_ns, record.mtime_ns))
    except OSError as error:
        result.problems.append(f"{error.filename or target}: {error.strerror or error}")
        return
    finally:
        partial.unlink(missing_ok=True)
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


def _restored_name(entry: Entry, taken: set[str]) -> str:
    """Kept files and JPEGs keep their name; other formats come back as JPEG under a .jpg
    name beside it (`taken`: every name in the folder, lower-cased)."""
    name = entry.name
    if isinstance(entry, KeptRecord) or name.lower().endswith(JPEG_SUFFIXES):
        return name
    stem = name.rsplit(".", 1)[0] + ".jpg"
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
