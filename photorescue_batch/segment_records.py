"""Each segment's video carries its own records, so the sidecar can always be rebuilt.

The records (the sidecar entries of that segment's frames, and the segment itself: see
`sidecar.SegmentDocument`) go into a top-level ISO BMFF box of type `uuid` at the end of the
MP4 or MOV file. Every player and demuxer skips a box it does not know (ISO/IEC 14496-12 asks
it to), so the video plays as before; and a folder whose sidecar is lost, truncated or
overwritten can be read from its videos alone, as restic and borg rebuild their index from
their pack files.
"""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

# Ours alone: a box of this extended type holds photorescue's records, nothing else does.
RECORDS_UUID = uuid.UUID("9d3f0b1e-6a43-4c1f-8e55-70686f746f72").bytes
_HEADER = struct.Struct(">I4s")


def append_records(video: Path, document: bytes) -> None:
    """Add the records box to a finished video (still a .partial, before its checksum)."""
    size = _HEADER.size + len(RECORDS_UUID) + len(document)
    with open(video, "ab") as out:
        if size < 2**32:
            out.write(_HEADER.pack(size, b"uuid"))
        else:  # a 64-bit box size (size field 1, then the real size)
            out.write(_HEADER.pack(1, b"uuid") + struct.pack(">Q", size + 8))
        out.write(RECORDS_UUID + document)


def read_records(video: Path) -> bytes | None:
    """The records a video carries, or None if it has none (made before 0.4, or cut short).

    Only box headers are read, seeking over everything else, so this is fast on any size."""
    with open(video, "rb") as f:
        end = f.seek(0, 2)
        position = 0
        while position + _HEADER.size <= end:
            f.seek(position)
            size, kind = _HEADER.unpack(f.read(_HEADER.size))
            header = _HEADER.size
            if size == 1:
                (size,) = struct.unpack(">Q", f.read(8))
                header += 8
            elif size == 0:  # the box runs to the end of the file
                size = end - position
            if size < header or position + size > end:
                return None  # a broken or truncated file
            if kind == b"uuid" and f.read(len(RECORDS_UUID)) == RECORDS_UUID:
                return f.read(size - header - len(RECORDS_UUID))
            position += size
    return None
