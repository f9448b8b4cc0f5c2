"""Reading frames back out of a backup video, with the same colour conversion as the encoder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from photorescue_batch.encode import ACCURATE_SWS, COLOR_RANGE, COLORSPACE, MAX_KEYFRAME_INTERVAL


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Convert a decoded frame to RGB exactly the inverse way the writer converted it."""
    rgb = frame.reformat(
        format="rgb24",
        src_colorspace=COLORSPACE,
        src_color_range=COLOR_RANGE,
        interpolation=ACCURATE_SWS,
    )
    return rgb.to_ndarray()


def iter_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of a video, in order, as H x W x 3 uint8 arrays."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield to_rgb(frame)


@dataclass
class DecodeStats:
    """How much decoding a restore really did: restoring one photo must stay cheap."""

    frames_decoded: int = 0
    seeks: int = 0


def frames_at(
    path: Path,
    wanted: list[int],
    fps: Fraction,
    time_base: Fraction,
    stats: DecodeStats | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """The frames at the given pts, in pts order, decoding as little as the keyframes allow.

    Each far jump seeks to the keyframe before the target; nearby targets are reached by
    decoding on, since a keyframe comes at least every MAX_KEYFRAME_INTERVAL frames.
    """
    stats = stats if stats is not None else DecodeStats()
    targets = sorted(set(wanted))
    near = MAX_KEYFRAME_INTERVAL * round(1 / (time_base * fps))  # the video's, from its sidecar
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        i = 0
        while i < len(targets):
            container.seek(targets[i], stream=stream, backward=True, any_frame=False)
            stats.seeks += 1
            for frame in container.decode(stream):
                stats.frames_decoded += 1
                if frame.pts > targets[i]:
                    raise ValueError(f"{path}: no frame at pts {targets[i]}")
                if frame.pts < targets[i]:
                    continue
                yield frame.pts, to_rgb(frame)
                i += 1
                if i == len(targets) or targets[i] - frame.pts > near:
                    break
            else:
                if i < len(targets):
                    raise ValueError(f"{path}: no frame at pts {targets[i]}")
