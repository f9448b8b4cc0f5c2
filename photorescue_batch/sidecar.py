"""The sidecar: the one XML schema that records a folder's settings, video and every photo.

It is written as the frames are encoded (so memory does not grow with the folder) and read back
with defusedxml, because a backup drive is not trusted input.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from photorescue_batch import __version__
from photorescue_batch.config import Settings
from photorescue_batch.encode import FPS, PRESETS, TIME_BASE
from photorescue_batch.photo import Placement

SCHEMA_VERSION = "1"
# XML 1.0 cannot carry these characters, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class SidecarError(Exception):
    """A sidecar that cannot be parsed or does not follow the schema."""


@dataclass(frozen=True)
class PhotoRecord:
    """One frame of the video and the photo it came from."""

    index: int
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
    problem: str | None = None  # a metadata problem; the photo itself was converted

    @property
    def time(self) -> float:
        return self.index / FPS


@dataclass(frozen=True)
class UnconvertedRecord:
    """A photo that could not become a frame; its original bytes are kept beside the video."""

    name: str
    bytes: int
    sha256: str | None
    mtime_ns: int
    reason: str


@dataclass(frozen=True)
class VideoInfo:
    name: str
    bytes: int
    sha256: str
    frames: int
    time_base: Fraction


@dataclass(frozen=True)
class FolderRecord:
    """Everything a sidecar says about one folder."""

    folder: str
    settings: Settings
    fingerprint: str
    video: VideoInfo
    photos: tuple[PhotoRecord, ...]
    unconverted: tuple[UnconvertedRecord, ...]

    def pts(self, photo: PhotoRecord) -> int:
        return round(photo.time / self.video.time_base)


class SidecarWriter:
    """Writes a sidecar element by element into an open file; `finish` closes the document."""

    def __init__(self, out: BinaryIO, folder: str, settings: Settings, fingerprint: str) -> None:
        self._out = out
        preset = PRESETS[settings.codec]
        out.write(b'<?xml version="1.0" encoding="utf-8"?>\n')
        out.write(
            b'<photorescue schema="%s" tool="%s">\n'
            % (SCHEMA_VERSION.encode(), __version__.encode())
        )
        self._element(_name_element("folder", folder), indent=1)
        settings_element = ET.Element(
            "settings",
            box=str(settings.box),
            codec=settings.codec,
            quality=str(settings.quality),
            keyframes=settings.keyframes,
            encoder=preset.encoder,
            pix_fmt=preset.pix_fmt,
            fps=str(FPS),
        )
        self._element(settings_element, indent=1)
        fp = ET.Element("fingerprint")
        fp.text = fingerprint
        self._element(fp, indent=1)

    def photo(self, record: PhotoRecord) -> None:
        element = _name_element("photo", record.name)
        element.attrib.update(
            index=str(record.index),
            time=f"{record.time:g}",
            pts=str(round(record.time / TIME_BASE)),
            bytes=str(record.bytes),
            sha256=record.sha256,
            mtime_ns=str(record.mtime_ns),
            width=str(record.width),
            height=str(record.height),
            orientation=str(record.orientation),
            rect=str(record.rect),
        )
        if record.captured:
            element.set("captured", record.captured)
        if record.problem:
            element.set("problem", _clean(record.problem))
        for tag, value in record.tags.items():
            child = ET.SubElement(element, "tag", name=_clean(tag))
            child.text = _clean(value)
        if record.exif:
            ET.SubElement(element, "exif").text = base64.b64encode(record.exif).decode("ascii")
        self._element(element, indent=1)

    def unconverted(self, record: UnconvertedRecord) -> None:
        element = _name_element("unconverted", record.name)
        element.attrib.update(
            bytes=str(record.bytes),
            mtime_ns=str(record.mtime_ns),
            reason=_clean(record.reason),
        )
        if record.sha256:
            element.set("sha256", record.sha256)
        self._element(element, indent=1)

    def finish(self, video: VideoInfo) -> None:
        element = ET.Element(
            "video",
            name=video.name,
            bytes=str(video.bytes),
            sha256=video.sha256,
            frames=str(video.frames),
            time_base=str(video.time_base),
        )
        self._element(element, indent=1)
        self._out.write(b"</photorescue>\n")

    def _element(self, element: ET.Element, indent: int) -> None:
        ET.indent(element, space="  ", level=indent)
        self._out.write(b"  " * indent + ET.tostring(element, encoding="utf-8") + b"\n")


@dataclass(frozen=True)
class Commit:
    """What the resume check needs from a sidecar: no photo records, so it is quick to read."""

    fingerprint: str
    video: VideoInfo
    unconverted: tuple[UnconvertedRecord, ...]


def read_commit(path: Path) -> Commit:
    """The fingerprint, video and unconverted records, skipping over every photo record."""
    fingerprint = None
    video = None
    unconverted = []
    try:
        for _, element in SafeET.iterparse(path, events=("end",)):
            if element.tag == "fingerprint":
                fingerprint = (element.text or "").strip()
            elif element.tag == "video":
                video = _video(element)
            elif element.tag == "unconverted":
                unconverted.append(_unconverted(element))
            elif element.tag == "photo":
                element.clear()
    except (ET.ParseError, DefusedXmlException, OSError) as error:
        raise SidecarError(f"{path}: cannot parse: {error}") from error
    except (TypeError, ValueError, ZeroDivisionError) as error:
        raise SidecarError(f"{path}: does not follow the schema: {error}") from error
    if fingerprint is None or video is None:
        raise SidecarError(f"{path}: incomplete sidecar")
    return Commit(fingerprint, video, tuple(unconverted))


def read_sidecar(path: Path) -> FolderRecord:
    """Parse a sidecar, refusing anything that does not follow the schema."""
    try:
        root = SafeET.parse(path).getroot()
    except (ET.ParseError, DefusedXmlException, OSError) as error:
        raise SidecarError(f"{path}: cannot parse: {error}") from error
    try:
        if root.tag != "photorescue":
            raise SidecarError(f"{path}: not a photorescue sidecar")
        s = _one(root, "settings")
        settings = Settings(
            box=int(s.get("box")),
            codec=s.get("codec"),
            quality=int(s.get("quality")),
            keyframes=s.get("keyframes", "scene"),
        )
        video = _video(_one(root, "video"))
        photos = tuple(_photo(e) for e in root.iterfind("photo"))
        unconverted = tuple(_unconverted(e) for e in root.iterfind("unconverted"))
        return FolderRecord(
            folder=_get_name(_one(root, "folder")),
            settings=settings,
            fingerprint=(_one(root, "fingerprint").text or "").strip(),
            video=video,
            photos=photos,
            unconverted=unconverted,
        )
    except (TypeError, ValueError, ZeroDivisionError) as error:
        raise SidecarError(f"{path}: does not follow the schema: {error}") from error


def _video(e: ET.Element) -> VideoInfo:
    return VideoInfo(
        name=e.get("name", ""),
        bytes=int(e.get("bytes")),
        sha256=e.get("sha256", ""),
        frames=int(e.get("frames")),
        time_base=Fraction(e.get("time_base")),
    )


def _unconverted(e: ET.Element) -> UnconvertedRecord:
    return UnconvertedRecord(
        name=_get_name(e),
        bytes=int(e.get("bytes")),
        sha256=e.get("sha256"),
        mtime_ns=int(e.get("mtime_ns")),
        reason=e.get("reason", ""),
    )


def _photo(e: ET.Element) -> PhotoRecord:
    exif = e.find("exif")
    return PhotoRecord(
        index=int(e.get("index")),
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
        problem=e.get("problem"),
    )


def _one(root: ET.Element, tag: str) -> ET.Element:
    element = root.find(tag)
    if element is None:
        raise ValueError(f"no <{tag}> element")
    return element


def _name_element(tag: str, name: str) -> ET.Element:
    """A file or folder name that XML can carry as text, or else as base64 of its bytes."""
    if _NOT_XML.search(name):
        return ET.Element(tag, {"name-b64": base64.b64encode(os.fsencode(name)).decode("ascii")})
    return ET.Element(tag, name=name)


def _get_name(e: ET.Element) -> str:
    encoded = e.get("name-b64")
    if encoded is not None:
        return os.fsdecode(base64.b64decode(encoded))
    name = e.get("name")
    if name is None:
        raise ValueError(f"<{e.tag}> has no name")
    return name


def _clean(text: str) -> str:
    """Metadata text with the characters XML cannot hold written as \\xNN escapes."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
