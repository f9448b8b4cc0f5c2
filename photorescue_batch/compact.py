"""`photorescue compact`: merge a folder's segments into one video without re-encoding.

Every segment starts with a keyframe, so the compressed packets of segments made with the same
settings can follow one another in one track: they are copied, with their timestamps moved on,
and every frame decodes to exactly the pixels it had. Segments made with other settings stay
apart. Only `--forget-removed` drops anything: the photos the library no longer holds, where
whole groups of frames (a keyframe and the frames predicted from it) are removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import av

from photorescue_batch.catalog import BackedUpFolder
from photorescue_batch.checksum import sha256_file
from photorescue_batch.encode import CAPTION_TIME_BASE, CODECS, caption_packet
from photorescue_batch.faults import checkpoint
from photorescue_batch.segment_records import append_records
from photorescue_batch.sidecar import Entry, PhotoRecord, Segment, SegmentDocument, SidecarWriter
from photorescue_batch.transaction import FolderTransaction, destination_error


@dataclass(frozen=True)
class CompactOutcome:
    folder: str
    segments_before: int
    segments_after: int
    forgotten: int  # removed photos dropped (only with --forget-removed)
    removed_kept: int  # removed photos still in the backup: their frames share a group
    bytes_before: int
    bytes_after: int


def compact_folder(
    folder: BackedUpFolder, forget_removed: bool, now: str, dest: Path
) -> CompactOutcome:
    """Merge the folder's segments that share settings, and commit the new sidecar."""
    record, layout = folder.record, folder.layout
    newest = record.newest()
    removed = {name for name, v in newest.items() if v[0].removed} if forget_removed else set()
    drop = _droppable_frames(folder, removed)
    groups = _groups(record.segments)
    before = folder.backup_bytes
    dropped_kept = any(k.name in removed for k in record.kept)
    if all(len(g) == 1 for g in groups) and not drop and not dropped_kept:
        return CompactOutcome(
            record.folder or ".", len(groups), len(groups), 0, len(removed), before, before
        )
    next_id = max([s.id for s in record.segments] + list(layout.videos_on_disk())) + 1
    transaction = FolderTransaction(layout)
    try:
        moved: dict[tuple[int, int], tuple[int, int, float, int]] = {}
        segments: list[Segment] = []
        for group in groups:
            if len(group) == 1 and not any(key[0] == group[0].id for key in drop):
                segments.append(group[0])
                continue
            name = layout.video_name(next_id, group[0].settings.codec)
            segment, mapping = _merge(folder, group, drop, next_id, name, transaction, now)
            checkpoint("compact-video")
            moved.update(mapping)
            if segment.frames:
                segments.append(segment)
            next_id += 1
        entries = list(_carried(record.entries, removed, drop, moved))
        merged = {s.id for s in segments} - {s.id for s in record.segments}
        segments = [
            _with_records(s, entries, record.folder, transaction) if s.id in merged else s
            for s in segments
        ]
        writer = SidecarWriter(transaction.sidecar, record.folder, record.fingerprint)
        for entry in entries:
            writer.entry(entry)
        for skipped in record.skipped:
            writer.skipped(skipped)
        segments.sort(key=lambda s: s.id)
        writer.finish(segments)
        transaction.commit(
            [s.video for s in segments if s.id not in {g.id for g in record.segments}]
        )
    except BaseException as error:
        transaction.abort()
        problem = destination_error(error, dest)
        if problem is not None:
            raise problem from error
        raise
    stored = {s.video for s in segments} | {
        e.stored for e in entries if not isinstance(e, PhotoRecord) and e.stored
    }
    stored |= {e.trailer.stored for e in entries if isinstance(e, PhotoRecord) and e.trailer}
    # What this compaction replaced (the merged segments, forgotten kept files), and copies
    # of indexed frames that an interrupted compaction left: each held by the new commit.
    for name in (record.stored_files() - stored) | set(folder.redundant):
        (layout.directory / name).unlink(missing_ok=True)
    after = (
        sum((layout.directory / n).stat().st_size for n in stored) + layout.sidecar.stat().st_size
    )
    kept_names = {e.name for e in entries}
    return CompactOutcome(
        folder=record.folder or ".",
        segments_before=len(record.segments),
        segments_after=len(segments),
        forgotten=len(removed - kept_names),
        removed_kept=len(removed & kept_names),
        bytes_before=before,
        bytes_after=after,
    )


def _with_records(
    segment: Segment, entries: list[Entry], folder: str, transaction: FolderTransaction
) -> Segment:
    """A merged segment's video, made to carry its frames' records (segment_records.py)."""
    path = transaction.video(segment.video)
    document = SegmentDocument(folder)
    for entry in entries:
        if isinstance(entry, PhotoRecord) and entry.segment == segment.id:
            document.entry(entry)
    append_records(path, document.finish(replace(segment, bytes=0, sha256="")))
    return replace(segment, bytes=path.stat().st_size, sha256=sha256_file(path))


def _groups(segments: tuple[Segment, ...]) -> list[list[Segment]]:
    """Segments that can share one video: made with the same settings, encoder and timing."""
    groups: dict[tuple, list[Segment]] = {}
    for s in sorted(segments, key=lambda s: s.id):
        key = (s.settings, s.frame_format, s.encoder, s.pix_fmt, s.fps, s.time_base)
        groups.setdefault(key, []).append(s)
    return list(groups.values())


def _droppable_frames(folder: BackedUpFolder, removed: set[str]) -> set[tuple[int, int]]:
    """(segment, index) of frames that can go: every frame of their group shows a removed photo
    (a group is a keyframe and the frames after it up to the next keyframe)."""
    if not removed:
        return set()
    gone = {(p.segment, p.index) for p in folder.record.photos if p.name in removed}
    drop = set()
    for segment in folder.record.segments:
        ticks = _ticks_per_frame(segment)
        with av.open(str(folder.video(segment))) as source:
            stream = source.streams.video[0]
            for _, indices in _packet_groups(source, stream, segment, ticks):
                if all((segment.id, i) in gone for i in indices):
                    drop.update((segment.id, i) for i in indices)
    return drop


def _merge(
    folder: BackedUpFolder,
    group: list[Segment],
    drop: set[tuple[int, int]],
    segment_id: int,
    name: str,
    transaction: FolderTransaction,
    now: str,
) -> tuple[Segment, dict[tuple[int, int], tuple[int, int, float, int]]]:
    """Copy the packets of `group` (minus the dropped groups) into one new video."""
    first = group[0]
    ticks = _ticks_per_frame(first)
    mapping: dict[tuple[int, int], tuple[int, int, float, int]] = {}
    path = transaction.video(name)
    frames = 0
    with av.open(str(path), "w", format=CODECS[first.settings.codec].container) as output:
        out_stream = None
        for segment in group:
            with av.open(str(folder.video(segment))) as source:
                captions = _captions(source, segment)
                source.seek(0)
                stream = source.streams.video[0]
                if out_stream is None:
                    out_stream = output.add_stream_from_template(stream, opaque=True)
                    out_stream.time_base = stream.time_base
                    captioned = output.add_mux_stream("mov_text")
                    captioned.time_base = CAPTION_TIME_BASE
                for packets, indices in _packet_groups(source, stream, segment, ticks):
                    if all((segment.id, i) in drop for i in indices):
                        continue
                    shift = (frames - min(indices)) * ticks
                    for packet in packets:
                        packet.pts += _in(stream, shift, segment)
                        if packet.dts is not None:
                            packet.dts += _in(stream, shift, segment)
                        packet.stream = out_stream
                        output.mux(packet)
                    for i in sorted(indices):
                        new_index = frames + i - min(indices)
                        if i in captions:
                            output.mux(caption_packet(captions[i], new_index, captioned))
                        time = float(new_index / first.fps)
                        mapping[(segment.id, i)] = (segment_id, new_index, time, new_index * ticks)
                    frames += len(indices)
    segment = replace(
        first, id=segment_id, video=name, frames=frames, bytes=0, sha256="", created=now
    )
    return segment, mapping


def _captions(source: av.container.InputContainer, segment: Segment) -> dict[int, bytes]:
    """Each frame's subtitle sample (encode.caption_packet), by frame index; none before 0.4."""
    if not source.streams.subtitles:
        return {}
    stream = source.streams.subtitles[0]
    return {
        round(packet.pts * stream.time_base * segment.fps): bytes(packet)
        for packet in source.demux(stream)
        if packet.pts is not None and packet.size > 2  # not the empty cues the muxer adds
    }


def _packet_groups(source, stream, segment: Segment, ticks: int):
    """The packets of each keyframe group, with the frame indices they show."""
    packets: list[av.Packet] = []
    indices: list[int] = []
    for packet in source.demux(stream):
        if packet.pts is None:
            continue
        if packet.is_keyframe and packets:
            yield packets, indices
            packets, indices = [], []
        packets.append(packet)
        indices.append(round(packet.pts * stream.time_base / segment.time_base) // ticks)
    if packets:
        yield packets, indices


def _in(stream, shift: int, segment: Segment) -> int:
    """A shift in the sidecar's time base, in the stream's own."""
    return round(shift * segment.time_base / stream.time_base)


def _ticks_per_frame(segment: Segment) -> int:
    return round(1 / (segment.fps * segment.time_base))


def _carried(
    entries: tuple[Entry, ...],
    removed: set[str],
    drop: set[tuple[int, int]],
    moved: dict[tuple[int, int], tuple[int, int, float, int]],
) -> Iterator[Entry]:
    """The entries after compaction: frames moved to their new place, forgotten ones left out."""
    for entry in entries:
        if isinstance(entry, PhotoRecord):
            key = (entry.segment, entry.index)
            if key in drop:
                continue
            if key in moved:
                segment, index, time, pts = moved[key]
                entry = replace(entry, segment=segment, index=index, time=time, pts=pts)
            yield entry
        elif entry.name not in removed:
            yield entry
