"""The sidecar: the one XML schema that records a folder's backup, and the truth when it is read.

A folder's backup is append-only. Each run that found new or changed photos adds a *segment* (a
video of its own, with its own settings); photos the library no longer holds stay, marked
removed. The sidecar lists every version of every file (numbered per file name; one version may
hold several entries: each image of a multi-image file, and the original where it was kept
whole), then what the library holds that is not backed up, then the segments. It is written as
the frames are encoded (memory does not grow with the folder) and read back with defusedxml,
because a backup drive is not trusted input. Readers take fps and time base from the file, and
refuse a schema newer than theirs.

It is stored gzip-compressed (`Trip.xml.gz`: zcat, zless and xmllint read it). `Trip.xml` then
holds only a pointer to it, of a schema that photorescue 0.2 and
older refuse to read: an old version run on a newer backup stops instead of starting afresh.
"""

from __future__ import annotations

import base64
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from photorescue_batch import __version__
from photorescue_batch.blocks import MetadataBlock
from photorescue_batch.config import Settings
from photorescue_batch.layout import LEGACY_KEPT, ROOT_STEM
from photorescue_batch.photo import Placement
from photorescue_batch.walk import PHOTO, RAW

# 4: each segment's video carries its own records, trailers (motion clips), files to retry;
# 3: gzip-compressed; 2: segments, versions, removed photos; 1: one video per folder
SCHEMA_VERSION = 4
GZIP_MAGIC = b"\x1f\x8b"
# How every sidecar this version writes begins (the pointer too).
_OPENING = b'<?xml version="1.0" encoding="utf-8"?>\n<photorescue schema="%d" tool="%s">\n' % (
    SCHEMA_VERSION,
    __version__.encode(),
)
# XML 1.0 cannot carry these characters, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class SidecarError(Exception):
    """A sidecar that cannot be parsed, does not follow the schema, or is newer than us."""


@dataclass(frozen=True)
class Segment:
    """One video of a folder's backup, written by one run and never rewritten after."""

    id: int
    video: str  # its file name, in the folder's directory in DEST
    settings: Settings
    frame_format: int
    encoder: str
    pix_fmt: str
    fps: Fraction
    time_base: Fraction
    frames: int
    bytes: int
    sha256: str
    created: str  # when the run that wrote it started (ISO 8601)


@dataclass(frozen=True)
class Trailer:
    """The bytes after a JPEG's image (a motion photo's clip), kept byte for byte beside it
    and put back after the restored JPEG's end (trailer.py)."""

    stored: str  # where the copy lies, relative to the folder's directory in DEST
    bytes: int
    sha256: str
    kind: str  # "Google motion photo clip", "Samsung motion photo clip", ...


@dataclass(frozen=True)
class PhotoRecord:
    """One frame of a segment and the version of the photo it came from."""

    segment: int
    index: int  # its frame number in the segment's video
    time: float  # seconds from the start of that video
    pts: int  # in the video's time base
    name: str  # the file name inside the folder
    bytes: int
    sha256: str
    mtime_ns: int
    width: int  # stored pixel size, before orientation
    height: int
    orientation: int  # the EXIF orientation that was applied
    rect: Placement
    captured: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    exif: bytes | None = None
    blocks: tuple[MetadataBlock, ...] = ()  # XMP, IPTC, ICC, comments..., byte for byte
    problem: str | None = None  # a metadata problem; the photo itself was converted
    added: str | None = None  # when the run that backed up this version started
    removed: str | None = None  # when a run first found the library without it
    version: int = 1  # of the file, counted from 1
    image: int = 1  # which image of a multi-image file (MPO, multi-page TIFF, ...)
    flattened: str | None = None  # the background its transparency was flattened onto
    converted_from: str | None = None  # the colour profile its frame was converted to sRGB from
    trailer: Trailer | None = None  # what followed the image in the file (its first image's)


@dataclass(frozen=True)
class KeptRecord:
    """A file kept byte for byte: a video, a sidecar file, any other file, a photo that could
    not become a frame (with why), or an original the policy keeps whole beside its frames."""

    name: str
    stored: str  # where the copy lies, relative to the folder's directory in DEST ('' if none)
    bytes: int
    sha256: str | None  # None when the original could not even be read
    mtime_ns: int
    reason: str  # why it is kept: its kind, or what went wrong
    added: str | None = None
    removed: str | None = None
    version: int = 1
    kind: str = PHOTO  # photo, raw, video, sidecar or other (see walk.py)


@dataclass(frozen=True)
class SkippedRecord:
    """A file (or hidden folder, or auxiliary image) of the library that is not backed up."""

    name: str
    reason: str
    retry: bool = False  # it could not be read: every run tries it again until it can


Entry = PhotoRecord | KeptRecord


def image_label(name: str, image: int) -> str:
    """How a file's image is named where one file holds several: `DSCF0001.MPO#2`."""
    return name + (f"#{image}" if image > 1 else "")


def newest_versions(entries: tuple[Entry, ...] | list[Entry]) -> dict[str, tuple[Entry, ...]]:
    """The entries of the newest version of every name."""
    by_name: dict[str, list[Entry]] = {}
    for entry in entries:
        by_name.setdefault(entry.name, []).append(entry)
    newest = {}
    for name, versions in by_name.items():
        last = max(e.version for e in versions)
        newest[name] = tuple(e for e in versions if e.version == last)
    return newest


def has_frames(version: tuple) -> bool:
    return any(not isinstance(e, KeptRecord) for e in version)


def kept_whole(version: tuple[Entry, ...]) -> KeptRecord | None:
    """The original of a version where it was kept byte for byte (restore gives that back)."""
    return next((e for e in version if isinstance(e, KeptRecord)), None)


@dataclass(frozen=True)
class FolderRecord:
    """Everything a sidecar says about one folder."""

    folder: str
    fingerprint: str  # of the library folder and settings as the last run found them
    segments: tuple[Segment, ...]
    entries: tuple[Entry, ...]  # every version of every file, oldest first
    skipped: tuple[SkippedRecord, ...] = ()

    @property
    def photos(self) -> tuple[PhotoRecord, ...]:
        return tuple(e for e in self.entries if isinstance(e, PhotoRecord))

    @property
    def kept(self) -> tuple[KeptRecord, ...]:
        return tuple(e for e in self.entries if isinstance(e, KeptRecord))

    def newest(self) -> dict[str, tuple[Entry, ...]]:
        return newest_versions(self.entries)

    def segment(self, segment_id: int) -> Segment:
        for segment in self.segments:
            if segment.id == segment_id:
                return segment
        raise KeyError(segment_id)

    def stored_files(self) -> set[str]:
        """Every file in the folder's directory that this record refers to."""
        return (
            {s.video for s in self.segments}
            | {k.stored for k in self.kept if k.stored}
            | {p.trailer.stored for p in self.photos if p.trailer}
        )


class SidecarWriter:
    """Writes a sidecar element by element into an open file; `finish` closes the document."""

    def __init__(self, out: BinaryIO, folder: str, fingerprint: str) -> None:
        self._out = out
        out.write(_OPENING)
        self._element(_name_element("folder", folder))
        fp = ET.Element("fingerprint")
        fp.text = fingerprint
        self._element(fp)

    @classmethod
    def continuing(cls, out: BinaryIO) -> SidecarWriter:
        """A writer of the entries (and what follows them) of a sidecar whose opening is
        written elsewhere: the parts of a sidecar written as gzip members (pipeline.py)."""
        writer = cls.__new__(cls)
        writer._out = out
        return writer

    def entry(self, record: Entry) -> None:
        if isinstance(record, PhotoRecord):
            self._element(_photo_element(record))
        else:
            self._element(_kept_element(record))

    def skipped(self, record: SkippedRecord) -> None:
        element = _name_element("skipped", record.name)
        element.set("reason", _clean(record.reason))
        if record.retry:
            element.set("retry", "1")
        self._element(element)

    def finish(self, segments: list[Segment] | tuple[Segment, ...]) -> None:
        for segment in segments:
            self._element(_segment_element(segment))
        self._out.write(b"</photorescue>\n")

    def _element(self, element: ET.Element) -> None:
        ET.indent(element, space="  ", level=1)
        self._out.write(b"  " + ET.tostring(element, encoding="utf-8") + b"\n")


def _photo_element(record: PhotoRecord) -> ET.Element:
    element = _name_element("photo", record.name)
    element.attrib.update(
        segment=str(record.segment),
        index=str(record.index),
        time=f"{record.time:g}",
        pts=str(record.pts),
        bytes=str(record.bytes),
        sha256=record.sha256,
        mtime_ns=str(record.mtime_ns),
        width=str(record.width),
        height=str(record.height),
        orientation=str(record.orientation),
        rect=str(record.rect),
    )
    _set_optional(element, captured=record.captured, added=record.added, removed=record.removed)
    _set_numbers(element, version=record.version, image=record.image)
    if record.flattened:
        element.set("flattened", record.flattened)
    if record.converted_from:
        element.set("converted_from", _clean(record.converted_from))
    if record.problem:
        element.set("problem", _clean(record.problem))
    for tag, value in record.tags.items():
        child = ET.SubElement(element, "tag", name=_clean(tag))
        child.text = _clean(value)
    if record.exif:
        ET.SubElement(element, "exif").text = base64.b64encode(record.exif).decode("ascii")
    for block in record.blocks:
        child = ET.SubElement(element, "block", kind=block.kind)
        child.text = base64.b64encode(block.data).decode("ascii")
    if (t := record.trailer) is not None:
        child = ET.SubElement(element, "trailer", bytes=str(t.bytes), sha256=t.sha256, kind=t.kind)
        _set_name(child, "stored", t.stored)
    return element


def _kept_element(record: KeptRecord) -> ET.Element:
    element = _name_element("kept", record.name)
    _set_name(element, "stored", record.stored)
    element.attrib.update(
        bytes=str(record.bytes),
        mtime_ns=str(record.mtime_ns),
        kind=record.kind,
        reason=_clean(record.reason),
    )
    _set_optional(element, sha256=record.sha256, added=record.added, removed=record.removed)
    _set_numbers(element, version=record.version)
    return element


def _segment_element(segment: Segment) -> ET.Element:
    s = segment.settings
    element = ET.Element("segment", id=str(segment.id))
    _set_name(element, "video", segment.video)
    element.attrib.update(
        box=str(s.box),
        codec=s.codec,
        quality=str(s.quality),
        keyframes=s.keyframes,
        frame_format=str(segment.frame_format),
        encoder=segment.encoder,
        pix_fmt=segment.pix_fmt,
        fps=str(segment.fps),
        time_base=str(segment.time_base),
        frames=str(segment.frames),
        bytes=str(segment.bytes),
        sha256=segment.sha256,
        created=segment.created,
    )
    return element


@dataclass(frozen=True)
class Holdings:
    """What a folder's backup holds of the library's files, counted by newest versions."""

    photos: int  # files shown in frames that the library still holds
    kept: tuple[KeptRecord, ...]  # files kept byte for byte that the library still holds
    removed: int  # files the library no longer holds
    skipped: tuple[SkippedRecord, ...]  # what of the library is not backed up, with why
    unconverted: tuple[KeptRecord, ...] = ()  # photos kept because they could not be frames
    trailers: tuple[int, ...] = ()  # the bytes of each motion clip (or other trailer) kept

    @property
    def kept_bytes(self) -> int:
        return sum(k.bytes for k in self.kept)


def holdings(entries: list, skipped: tuple[SkippedRecord, ...]) -> Holdings:
    """Count what `entries` (records, or photos' (name, version, removed) stand-ins) hold."""
    photos, kept, removed, unconverted, trailers = 0, [], 0, [], []
    for version in newest_versions(entries).values():
        if version[0].removed:
            removed += 1
            continue
        photos += has_frames(version)
        kept_here = [e for e in version if isinstance(e, KeptRecord)]
        kept += kept_here
        trailers += [e.trailer.bytes for e in version if getattr(e, "trailer", None)]
        if not has_frames(version):
            unconverted += [e for e in kept_here if e.kind in (PHOTO, RAW)]
    return Holdings(photos, tuple(kept), removed, skipped, tuple(unconverted), tuple(trailers))


@dataclass(frozen=True)
class PhotoName:
    """What counting needs of a photo record: its name, version, removed mark and trailer."""

    name: str
    version: int
    removed: str | None
    trailer: Trailer | None = None


@dataclass(frozen=True)
class Commit:
    """What the resume check needs from a sidecar: no tags or EXIF, so it is quick to read."""

    fingerprint: str
    segments: tuple[Segment, ...]
    holdings: Holdings
    kept_files: frozenset[str]  # where every kept file's copy lies, older versions' too

    def stored_files(self) -> set[str]:
        return {s.video for s in self.segments} | self.kept_files


def read_commit(path: Path) -> Commit:
    """The fingerprint, segments and kept files, reading no photo record beyond its name."""
    fingerprint, legacy_settings = None, None
    segments: list[Segment] = []
    entries: list[KeptRecord | PhotoName] = []
    skipped: list[SkippedRecord] = []
    with _parsing(path), _open(path) as source:
        for _, element in SafeET.iterparse(source, events=("end",)):
            if element.tag == "fingerprint":
                fingerprint = (element.text or "").strip()
            elif element.tag == "segment":
                segments.append(_segment(element))
            elif element.tag in ("kept", "unconverted"):
                entries.append(_kept(element, path))
            elif element.tag == "photo":
                version = int(element.get("version", "1"))
                entries.append(
                    PhotoName(
                        _get_name(element),
                        version,
                        element.get("removed"),
                        _trailer(element.find("trailer")),
                    )
                )
                element.clear()
            elif element.tag == "skipped":
                skipped.append(_skipped(element))
            elif element.tag == "settings":
                legacy_settings = element
            elif element.tag == "video":
                segments += _legacy_segment(element, legacy_settings)
            elif element.tag == "photorescue":
                _check_schema(element, path)
            elif element.tag == "moved":
                _moved(element, path)
    if fingerprint is None:
        raise SidecarError(f"{path}: incomplete sidecar")
    kept_files = frozenset(e.stored for e in entries if isinstance(e, KeptRecord) and e.stored) | {
        e.trailer.stored for e in entries if isinstance(e, PhotoName) and e.trailer
    }
    return Commit(fingerprint, tuple(segments), holdings(entries, tuple(skipped)), kept_files)


def read_folder_name(path: Path) -> str:
    """The library folder a sidecar records, reading no further than that."""
    with _parsing(path), _open(path) as source:
        for _, element in SafeET.iterparse(source, events=("end",)):
            if element.tag == "folder":
                return _get_name(element)
            if element.tag == "moved":
                _moved(element, path)
    raise SidecarError(f"{path}: incomplete sidecar")


def read_sidecar(path: Path) -> FolderRecord:
    """Parse a sidecar, refusing anything that does not follow the schema."""
    with _parsing(path), _open(path) as source:
        return _parse(source, path)


class SegmentDocument:
    """A segment's own records: a sidecar of that segment alone (no fingerprint: it says
    nothing of the library), gzip-compressed in memory as its frames are written, for its
    video to carry (segment_records.py)."""

    def __init__(self, folder: str) -> None:
        self._data = io.BytesIO()
        self._gzip = gzip.GzipFile(fileobj=self._data, mode="wb", mtime=0)
        self._writer = SidecarWriter(self._gzip, folder, "")  # type: ignore[arg-type]

    def entry(self, photo: PhotoRecord) -> None:
        self._writer.entry(photo)

    def finish(self, segment: Segment) -> bytes:
        self._writer.finish([segment])
        self._gzip.close()
        return self._data.getvalue()


def read_segment_document(data: bytes, label: Path) -> FolderRecord:
    """Parse what a `SegmentDocument` wrote; `label` names where it came from in errors."""
    with _parsing(label), gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as source:
        return _parse(source, label)  # type: ignore[arg-type]


def _parse(source: BinaryIO, path: Path) -> FolderRecord:
    root = SafeET.parse(source).getroot()
    if root.tag != "photorescue":
        raise SidecarError(f"{path}: not a photorescue sidecar")
    schema = _check_schema(root, path)
    if (moved := root.find("moved")) is not None:
        _moved(moved, path)
    folder = _get_name(_one(root, "folder"))
    fingerprint = (_one(root, "fingerprint").text or "").strip()
    if schema == 1:
        return _legacy_record(root, path, folder, fingerprint)
    segments = tuple(_segment(e) for e in root.iterfind("segment"))
    timing = {s.id: (s.fps, s.time_base) for s in segments}
    entries = tuple(
        _photo(e, timing) if e.tag == "photo" else _kept(e, path)
        for e in root
        if e.tag in ("photo", "kept")
    )
    skipped = tuple(_skipped(e) for e in root.iterfind("skipped"))
    return FolderRecord(folder, fingerprint, segments, entries, skipped)


@contextmanager
def _parsing(path: Path) -> Iterator[None]:
    """Turn every way a sidecar can be broken into one SidecarError that names the file."""
    try:
        yield
    except SidecarError:
        raise
    except (ET.ParseError, DefusedXmlException, OSError, EOFError, zlib.error) as error:
        raise SidecarError(f"{path}: cannot parse: {error or 'cut short'}") from error
    except (TypeError, ValueError, KeyError, ZeroDivisionError) as error:
        raise SidecarError(f"{path}: does not follow the schema: {error}") from error


def pointer(sidecar_name: str) -> bytes:
    """What `Trip.xml` holds once the sidecar is `Trip.xml.gz` (see the module docstring)."""
    element = ET.Element("moved", to=sidecar_name)
    return _OPENING + b"  %s\n</photorescue>\n" % ET.tostring(element, encoding="utf-8")


def _moved(element: ET.Element, path: Path) -> None:
    raise SidecarError(f"{path}: the sidecar is {element.get('to')!r} beside it, which is missing")


def _open(path: Path) -> BinaryIO:
    """A sidecar's XML bytes: gunzipped, as 0.3 and later write it, or as they are (0.2)."""
    raw = open(path, "rb")  # noqa: SIM115 (the caller closes what this returns)
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw


def _check_schema(root: ET.Element, path: Path) -> int:
    schema = int(root.get("schema", "1"))
    if schema > SCHEMA_VERSION:
        raise SidecarError(
            f"{path}: written by a newer photorescue ({root.get('tool', '?')}, sidecar schema "
            f"{schema}); this one reads schema {SCHEMA_VERSION} and older: upgrade photorescue"
        )
    return schema


def _segment(e: ET.Element) -> Segment:
    return Segment(
        id=int(e.get("id")),
        video=_get_name(e, "video"),
        settings=Settings(
            box=int(e.get("box")),
            codec=e.get("codec"),
            quality=int(e.get("quality")),
            keyframes=e.get("keyframes", "scene"),
        ),
        frame_format=int(e.get("frame_format")),
        encoder=e.get("encoder", ""),
        pix_fmt=e.get("pix_fmt", ""),
        fps=Fraction(e.get("fps")),
        time_base=Fraction(e.get("time_base")),
        frames=int(e.get("frames")),
        bytes=int(e.get("bytes")),
        sha256=e.get("sha256", ""),
        created=e.get("created", ""),
    )


def _photo(e: ET.Element, timing: dict[int, tuple[Fraction, Fraction]]) -> PhotoRecord:
    exif = e.find("exif")
    segment = int(e.get("segment"))
    if segment not in timing:
        raise ValueError(f"photo {_get_name(e)!r} names segment {segment}, which is not listed")
    return PhotoRecord(
        segment=segment,
        index=int(e.get("index")),
        time=float(e.get("time")),
        pts=int(e.get("pts")),
        name=_get_name(e),
        bytes=int(e.get("bytes")),
        sha256=e.get("sha256"),
        mtime_ns=int(e.get("mtime_ns")),
        width=int(e.get("width")),
        height=int(e.get("height")),
        orientation=int(e.get("orientation")),
        rect=Placement.parse(e.get("rect")),
        captured=e.get("captured"),
        tags={t.get("name"): t.text or "" for t in e.iterfind("tag")},
        exif=base64.b64decode(exif.text) if exif is not None and exif.text else None,
        blocks=tuple(
            MetadataBlock(b.get("kind", ""), base64.b64decode(b.text or ""))
            for b in e.iterfind("block")
        ),
        problem=e.get("problem"),
        added=e.get("added"),
        removed=e.get("removed"),
        version=int(e.get("version", "1")),
        image=int(e.get("image", "1")),
        flattened=e.get("flattened"),
        converted_from=e.get("converted_from"),
        trailer=_trailer(e.find("trailer")),
    )


def _trailer(e: ET.Element | None) -> Trailer | None:
    if e is None:
        return None
    return Trailer(_get_name(e, "stored"), int(e.get("bytes")), e.get("sha256"), e.get("kind", ""))


def _kept(e: ET.Element, path: Path) -> KeptRecord:
    name = _get_name(e)
    if e.tag == "unconverted":  # schema 1: kept in <stem>.unconverted/ under its own name
        stem = Path(path).stem if Path(path).stem else ROOT_STEM
        stored = f"{stem}{LEGACY_KEPT}/{name}"
    else:
        stored = _get_name(e, "stored")
    return KeptRecord(
        name=name,
        stored=stored,
        bytes=int(e.get("bytes")),
        sha256=e.get("sha256"),
        mtime_ns=int(e.get("mtime_ns")),
        reason=e.get("reason", ""),
        added=e.get("added"),
        removed=e.get("removed"),
        version=int(e.get("version", "1")),
        kind=e.get("kind", "photo"),
    )


def _skipped(e: ET.Element) -> SkippedRecord:
    return SkippedRecord(_get_name(e), e.get("reason", ""), e.get("retry") == "1")


def _legacy_segment(video: ET.Element, settings: ET.Element | None) -> list[Segment]:
    """Schema 1's single video as segment 1 (no segment when it had no frames)."""
    if int(video.get("frames")) == 0:
        return []
    s = settings if settings is not None else ET.Element("settings")
    return [
        Segment(
            id=1,
            video=video.get("name", ""),
            settings=Settings(
                box=int(s.get("box", "0")),
                codec=s.get("codec", "av1"),
                quality=int(s.get("quality", "0")),
                keyframes=s.get("keyframes", "scene"),
            ),
            frame_format=2,  # the last frame format that wrote schema 1
            encoder=s.get("encoder", ""),
            pix_fmt=s.get("pix_fmt", ""),
            fps=Fraction(s.get("fps", "1")),
            time_base=Fraction(video.get("time_base")),
            frames=int(video.get("frames")),
            bytes=int(video.get("bytes")),
            sha256=video.get("sha256", ""),
            created="",
        )
    ]


def _legacy_record(root: ET.Element, path: Path, folder: str, fingerprint: str) -> FolderRecord:
    segments = tuple(_legacy_segment(_one(root, "video"), _one(root, "settings")))
    fps, time_base = (segments[0].fps, segments[0].time_base) if segments else (1, 1)
    entries: list[Entry] = []
    for e in root:
        if e.tag == "photo":
            index = int(e.get("index"))
            e.set("segment", "1")
            e.set("time", str(index / fps))
            e.set("pts", str(round(index / fps / time_base)))
            entries.append(_photo(e, {1: (fps, time_base)}))
        elif e.tag == "unconverted":
            entries.append(_kept(e, path))
    return FolderRecord(folder, fingerprint, segments, tuple(entries))


def _one(root: ET.Element, tag: str) -> ET.Element:
    element = root.find(tag)
    if element is None:
        raise ValueError(f"no <{tag}> element")
    return element


def _set_optional(element: ET.Element, **values: str | None) -> None:
    for key, value in values.items():
        if value:
            element.set(key, value)


def _set_numbers(element: ET.Element, **values: int) -> None:
    """Counters that are 1 for nearly every entry are written only when they are not."""
    for key, value in values.items():
        if value != 1:
            element.set(key, str(value))


def _name_element(tag: str, name: str) -> ET.Element:
    element = ET.Element(tag)
    _set_name(element, "name", name)
    return element


def _set_name(element: ET.Element, attribute: str, name: str) -> None:
    """A file or folder name as XML text where it can be, else as base64 of its bytes."""
    if _NOT_XML.search(name):
        element.set(f"{attribute}-b64", base64.b64encode(os.fsencode(name)).decode("ascii"))
    else:
        element.set(attribute, name)


def _get_name(e: ET.Element, attribute: str = "name") -> str:
    encoded = e.get(f"{attribute}-b64")
    if encoded is not None:
        return os.fsdecode(base64.b64decode(encoded))
    name = e.get(attribute)
    if name is None:
        raise ValueError(f"<{e.tag}> has no {attribute}")
    return name


def _clean(text: str) -> str:
    """Metadata text with the characters XML cannot hold written as \\xNN escapes."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
