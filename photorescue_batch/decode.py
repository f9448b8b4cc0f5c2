"""Reading frames back out of a backup video, with the same colour conversion as the encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from photorescue_batch.encode import ACCURATE_SWS, COLOR_RANGE, COLORSPACE


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


def count_frames(path: Path) -> int:
    """The number of frames that actually decode (not what the header claims)."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))
