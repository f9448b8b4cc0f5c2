"""What DEST's file system allows, learnt by trying, and names made to fit it.

A USB stick or SD card ships as exFAT (or FAT32): case-insensitive, refusing `: ? * " < > | \\`
and control characters, and any name that is not UTF-8. A library on Linux holds all of those.
So before a run writes anything, it probes DEST (a hidden folder of its own, removed after) and
writes every name DEST would refuse or fold onto another as a stand-in; the sidecar keeps the
original name, so restore gives it back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

PROBE = ".photorescue-probe"
# What exFAT, FAT32, NTFS (through Windows) and SMB shares refuse somewhere.
_SUSPECT = '\\:*?"<>|\x01\n\t'
_CONTROL = "".join(map(chr, range(1, 32)))
# Room a folder's name must leave for what the layout adds to it (`.damaged.2.xml.gz.partial`,
# a `~N` to tell two apart).
_ROOM = 40


@dataclass(frozen=True)
class DestRules:
    """What DEST's file system does with names. The default is a Linux file system's: any
    bytes but `/` and NUL, case kept apart."""

    case_insensitive: bool = False
    refused: frozenset[str] = field(default_factory=frozenset)  # characters it will not hold
    utf8_only: bool = False  # it refuses names that are not UTF-8
    max_name: int = 255  # bytes

    @property
    def plain(self) -> bool:
        """Every library name fits as it is (apart from its length)."""
        return not (self.case_insensitive or self.refused or self.utf8_only)

    def fold(self, name: str) -> str:
        """What DEST takes to be the same name."""
        return name.casefold() if self.case_insensitive else name

    def fit(self, name: str) -> str:
        """`name` where DEST holds it as it is; else a stand-in, with `_` for each character
        or byte it refuses, cut to leave room for the layout's suffixes. Two names may get
        one stand-in: repair.resolve_folders tells them apart."""
        if self.plain:
            return name
        if self.refused or self.utf8_only:
            refused = self.refused | (
                {chr(c) for c in range(0xD800, 0xE000)} if self.utf8_only else set()
            )
            name = "".join("_" if c in refused else c for c in name)
        limit = self.max_name - _ROOM
        while len(os.fsencode(name)) > limit:
            name = name[:-1]
        return name or "_"


def probe(dest: Path) -> DestRules:
    """Learn DEST's rules by creating names in a hidden folder of our own, then removing it."""
    place = dest / PROBE
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir()
    try:
        (place / "aB").touch()
        case_insensitive = (place / "Ab").exists()
        refused = frozenset(c for c in _SUSPECT if not _holds(place, f"x{c}y"))
        if "\x01" in refused or "\n" in refused:
            refused |= frozenset(_CONTROL)
        utf8_only = not _holds(place, os.fsdecode(b"x\xe9"))
        try:
            max_name = os.statvfs(dest).f_namemax
        except OSError:
            max_name = 255
        return DestRules(case_insensitive, refused, utf8_only, min(max_name, 255))
    finally:
        shutil.rmtree(place, ignore_errors=True)


def _holds(place: Path, name: str) -> bool:
    """Whether DEST keeps `name` as it was given."""
    try:
        (place / name).touch()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        return name in os.listdir(place)
    return False
