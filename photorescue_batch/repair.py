"""A folder's index: what its sidecar says, and what its own files say where the sidecar cannot.

The sidecar is the commit record, but not the only copy of it: every segment's video carries
its own records (segment_records.py) and every kept file lies under its own name. So a folder's
backup is always read as its sidecar plus whatever its directory holds that the sidecar does
not name: a segment or kept file that a stopped run had moved into place before it could
commit is adopted, and a lost or damaged sidecar is rebuilt from the segments, as restic and
borg rebuild their index from their packs. Nothing found is ever deleted. And on a DEST that
folds or refuses names, it is what each folder's backup says it is that tells which directory
holds which folder (`resolve_folders`).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, replace
from pathlib import Path

from photorescue_batch.checksum import sha256_file
from photorescue_batch.destination import DestRules
from photorescue_batch.layout import ESCAPE, ROOT_STEM, FolderLayout, dest_name, folder_path
from photorescue_batch.problems import NOTE, Problem, problem
from photorescue_batch.segment_records import read_records
from photorescue_batch.sidecar import (
    Entry,
    FolderRecord,
    KeptRecord,
    PhotoRecord,
    SidecarError,
    SidecarWriter,
    read_folder_name,
    read_segment_document,
    read_sidecar,
)
from photorescue_batch.transaction import FolderTransaction
from photorescue_batch.walk import file_kind

FOUND = "found in DEST, not in the sidecar"
MISSING = ": missing"


@dataclass(frozen=True)
class FolderIndex:
    """A folder's record as its sidecar and its files give it, and what was done to get it."""

    record: FolderRecord | None  # None: nothing of the folder is in DEST
    sidecar_error: str | None = None  # why the sidecar could not be read, if it could not
    adopted: tuple[str, ...] = ()  # files the sidecar did not name, now in the record
    unindexed: tuple[tuple[str, str], ...] = ()  # files not in the record, and why (kept)
    redundant: tuple[str, ...] = ()  # unnamed videos whose every frame the record holds

    @property
    def rebuilt(self) -> bool:
        """The sidecar must be written anew: it is lost or damaged, or names too little."""
        return self.record is not None and (self.sidecar_error is not None or bool(self.adopted))

    @property
    def damaged(self) -> bool:
        """The sidecar is there but cannot be read (a lost one may just be a stopped run's)."""
        return self.sidecar_error is not None and not self.sidecar_error.endswith(MISSING)

    def said(self, layout: FolderLayout) -> list[Problem]:
        """What a user is told about this folder's index: that it was rebuilt or took in files
        a stopped run wrote (notes), and what is wrong with the backup itself (problems)."""
        said = [
            problem(layout.directory, f"{name}: {why}; kept as it is")
            for name, why in self.unindexed
        ]
        error = self.sidecar_error
        if self.damaged and self.record is None:
            said.append(problem(layout.directory, f"{error}; nothing of this folder can be read"))
        elif self.damaged:
            said.append(problem(layout.directory, f"{error}: the sidecar was damaged"))
        if error is not None and self.record is not None:
            rebuilt = f"{error}; the folder's index is rebuilt from its segments' own records"
            said.insert(0, problem(layout.directory, rebuilt + " and kept files", NOTE))
        elif self.adopted:
            adopted = f"{len(self.adopted)} files a stopped run had written are taken into it"
            said.insert(0, problem(layout.directory, adopted, NOTE))
        return said


def folder_index(layout: FolderLayout, relative: str) -> FolderIndex:
    """The folder's record: its sidecar (if it reads), with every segment and kept file in its
    directory that the sidecar does not name. `relative` is the library path to use when
    nothing in DEST says it."""
    record, error = None, None
    if layout.sidecar.exists():
        try:
            record = read_sidecar(layout.sidecar)
        except SidecarError as failure:
            error = str(failure)
    elif layout.pointer.exists() or layout.videos_on_disk():
        error = f"{layout.new_sidecar}{MISSING}"
    named = record.stored_files() if record else set()
    held = {_key(e) for e in record.entries} if record else set()
    segments = list(record.segments) if record else []
    entries: list[Entry] = list(record.entries) if record else []
    folder = record.folder if record else None
    adopted, unindexed, redundant = [], [], []
    taken = {s.id for s in segments}
    for number, video in sorted(layout.videos_on_disk().items()):
        if video.name in named:
            continue
        try:
            document = read_records(video)
            found = read_segment_document(document, video) if document is not None else None
        except (OSError, SidecarError) as failure:
            unindexed.append(
                (video.name, f"not in the sidecar, and its records cannot be read: {failure}")
            )
            continue
        if found is None or len(found.segments) != 1:
            unindexed.append((video.name, "not in the sidecar, and it carries no records"))
            continue
        new = [e for e in found.entries if _key(e) not in held]
        if not new:
            redundant.append(video.name)
            continue
        segment_id = number if number not in taken else max(taken | {number}) + 1
        segment = replace(
            found.segments[0],
            id=segment_id,
            video=video.name,
            bytes=video.stat().st_size,
            sha256=sha256_file(video),
        )
        taken.add(segment_id)
        segments.append(segment)
        entries += [replace(e, segment=segment_id) for e in new if isinstance(e, PhotoRecord)]
        held |= {_key(e) for e in new}
        folder = found.folder if folder is None else folder
        adopted.append(video.name)
    for version, stored in layout.kept_on_disk():
        if stored in named:
            continue
        kept = _found_kept(layout.directory / stored, stored, version)
        if _key(kept) in held:
            unindexed.append((stored, "not in the sidecar, and another copy of it is"))
            continue
        entries.append(kept)
        held.add(_key(kept))
        adopted.append(stored)
    if record is None and not adopted:
        return FolderIndex(None, error, unindexed=tuple(unindexed))
    if adopted or record is None:
        record = FolderRecord(
            folder if folder is not None else relative,
            "" if error or adopted else record.fingerprint,  # the next run looks at everything
            tuple(sorted(segments, key=lambda s: s.id)),
            tuple(entries),
            record.skipped if record else (),
        )
    return FolderIndex(record, error, tuple(adopted), tuple(unindexed), tuple(redundant))


def resolve_folders(dest: Path, relatives: list[str], rules: DestRules) -> dict[str, FolderLayout]:
    """Where each library folder's backup goes on a DEST that refuses some names or ignores
    case (a USB stick's exFAT): its name fitted to DEST (destination.py), and where another
    folder's backup already has that name there, or this run gave it to another folder, the
    first free `name~N`. Each folder finds its own again from what its sidecar (or its
    segments) says it is, so the choice is the same at every run. The top of the library is
    DEST itself."""
    layouts: dict[str, FolderLayout] = {}
    claimed: dict[tuple[str, ...], str] = {}
    for relative in sorted(relatives):
        parts = folder_path(relative).parts
        if not parts:
            layouts[relative] = FolderLayout(dest, ROOT_STEM, rules)
            continue
        directory = dest.joinpath(*(dest_name(rules.fit(p)) for p in parts[:-1]))
        base = dest_name(rules.fit(parts[-1]))
        for n in itertools.count(1):
            name = base if n == 1 else f"{base}{ESCAPE}{n}"
            key = (*(rules.fold(p) for p in directory.relative_to(dest).parts), rules.fold(name))
            layout = FolderLayout(directory / name, name.removesuffix(ESCAPE), rules)
            if claimed.get(key, relative) == relative and owner(layout) in (None, relative):
                claimed[key] = relative
                layouts[relative] = layout
                break
    return layouts


def owner(layout: FolderLayout) -> str | None:
    """The library folder whose backup `layout` holds (from its sidecar, else its segments'
    own records); None if it holds none; '?' if it holds one that cannot be read."""
    if layout.sidecar.is_file():
        try:
            return read_folder_name(layout.sidecar)
        except SidecarError:
            pass
    elif not layout.videos_on_disk() and not any(layout.kept_on_disk()):
        return None
    record = folder_index(layout, "?").record
    return record.folder if record is not None else "?"


def _key(entry: Entry) -> tuple[str, int, int, bool]:
    """What tells two entries apart: which file, which version, which image; frame or copy."""
    image = entry.image if isinstance(entry, PhotoRecord) else 0
    return entry.name, entry.version, image, isinstance(entry, KeptRecord)


def _found_kept(path: Path, stored: str, version: int) -> KeptRecord:
    """A kept file no sidecar names, as a record: its bytes are the library file's, its mtime
    is the original's (set when it was kept)."""
    st = os.stat(path)
    name = Path(stored).name
    return KeptRecord(
        name, stored, st.st_size, sha256_file(path), st.st_mtime_ns, FOUND, version=version,
        kind=file_kind(name),
    )  # fmt: skip


def repair_folder(layout: FolderLayout, relative: str) -> FolderIndex:
    """Write the folder's sidecar anew from its index where it is lost, damaged, or names too
    little; a damaged sidecar is moved aside, never deleted."""
    index = folder_index(layout, relative)
    record = index.record
    if record is None or not index.rebuilt:
        return index
    if index.sidecar_error and layout.new_sidecar.exists():
        layout.set_aside()
    transaction = FolderTransaction(layout)
    try:
        assert transaction.sidecar is not None
        writer = SidecarWriter(transaction.sidecar, record.folder, record.fingerprint)
        for entry in record.entries:
            writer.entry(entry)
        for skipped in record.skipped:
            writer.skipped(skipped)
        writer.finish(record.segments)
        transaction.commit([])
    except BaseException:
        transaction.abort()
        raise
    return index
