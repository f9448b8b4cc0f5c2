"""The codec table and the one PyAV writer that turns a folder's frames into a video."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

FPS = 1
# MP4 and MOV raise any time base below 1/10000 to a power of two; asking for this one up front
# means the sidecar can record each frame's pts before the muxer has written anything.
TIME_BASE = Fraction(1, 16384)
CAPTION_TIME_BASE = Fraction(1, 1000)
MAX_CAPTION = 1000  # bytes of a subtitle (mov_text holds up to 65535)
# Restoring one photo decodes at most this many frames, however long a burst runs.
MAX_KEYFRAME_INTERVAL = 16
# scene: a keyframe wherever a photo differs from the one before (the default);
# intra: every frame a keyframe; encoder: the encoder's own GOP, nothing forced (for comparison).
KEYFRAME_MODES = ("scene", "intra", "encoder")
# Bumped whenever the frames made from the same photo and settings change, or their encoding:
# a photo whose newest frame was made in another format is encoded again.
FRAME_FORMAT = 2  # 2: SVT-AV1 preset 10; rotated photos shrunk before they are turned
# Photos whose luma signatures correlate less than this are unrelated: the second gets a keyframe
# (from the all-intra encoder). A calibration series of one chessboard in other poses
# correlates 0.94-0.99, and at 0.97 its predicted frames cost more than all-intra ones
# (compare.py: 5.4 against 6.2 at equal mean SSIM); a burst's near-identical shots pass 0.99.
SCENE_CUT_CORRELATION = 0.99
# ... and so are photos whose chroma differs by more than this (mean, in levels of Cb and Cr).
SCENE_CUT_CHROMA = 3.0

# PyAV's default RGB<->YUV conversion rounds coarsely and loses up to ~2.4 dB; these do not.
ACCURATE_SWS = (
    Interpolation.BICUBIC
    | Interpolation.ACCURATE_RND
    | Interpolation.FULL_CHR_H_INT
    | Interpolation.FULL_CHR_H_INP
)
COLORSPACE = Colorspace.ITU709
COLOR_RANGE = ColorRange.MPEG

_LIBC = ctypes.CDLL(None) if os.name == "posix" else None  # the C library already loaded


@dataclass(frozen=True)
class Codec:
    """One entry of `--codec`: the encoder, its container and its quality scale."""

    encoder: str
    container: str
    extension: str
    pix_fmt: str
    levels: Mapping[str, int]
    quality_range: tuple[int, int]
    options: Callable[[int], dict[str, str]]
    # Options of an all-intra encoder for photos unlike their neighbours (runs of similar
    # photos still go to `options`); None: one encoder codes all, keyframes forced at cuts.
    intra_options: Callable[[int], dict[str, str]] | None = None


CODECS: dict[str, Codec] = {
    "av1": Codec(
        encoder="libsvtav1",
        container="mp4",  # AV1 in MP4 plays in Chromium, Firefox and VLC
        extension=".mp4",
        # 10 bits: 3-4% fewer bytes at equal SSIM for 10-30% more encoder CPU (encoder_options.py),
        # and no banding in skies. Every AV1 decoder (main profile) takes it.
        pix_fmt="yuv420p10le",
        levels={"archive": 30, "standard": 37, "tiny": 44},
        quality_range=(1, 63),
        # Bursts, random access: predicted frames come out softer than keyframes at the same
        # crf, so 6 below the level keeps a burst's worst photo at the level's intra quality
        # (tests/test_encode.py), for a quarter of the bytes.
        options=lambda q: {"crf": str(max(1, q - 6)), "preset": "10", "svtav1-params": "scd=0"},
        # All-intra codes a keyframe better than 0.2's one random-access encoder did at the
        # same crf; this keeps each level's number where 0.2 had it on the corpus (mean SSIM
        # 0.972 / 0.957 / 0.938), so a 0.2 backup's settings still match (compare.py). Preset
        # 7: 2.5% fewer bytes at equal SSIM than preset 8 for 1.4x its CPU, 5% fewer than
        # preset 10 for 1.6x (encoder_options.py); per-image AVIF is within 2% of preset 8.
        intra_options=lambda q: {
            "crf": str(intra_crf(q)),
            "preset": "7",
            "svtav1-params": "pred-struct=0:tune=4",
        },
    ),
    "hevc": Codec(
        encoder="libx265",
        container="mp4",
        extension=".mp4",
        pix_fmt="yuv420p",
        levels={"archive": 20, "standard": 26, "tiny": 32},
        quality_range=(0, 51),
        # No B-frames: with them, libx265 gives an encode of 1 or 2 frames a DTS read from
        # memory it never set, and the MP4 muxer now and then refuses it ("pts/dts pair
        # unsupported"; a one-photo folder now and then failed, never without B-frames).
        options=lambda q: {
            "crf": str(q),
            "preset": "medium",
            "x265-params": "log-level=error:scenecut=0:bframes=0",
        },
    ),
    "h264": Codec(
        encoder="libx264",
        container="mp4",
        extension=".mp4",
        pix_fmt="yuv420p",
        levels={"archive": 18, "standard": 23, "tiny": 30},
        quality_range=(0, 51),
        options=lambda q: {"crf": str(q), "preset": "medium", "sc_threshold": "0"},
    ),
    "prores": Codec(
        encoder="prores_ks",
        container="mov",
        extension=".mov",
        pix_fmt="yuv422p10le",
        levels={"archive": 8, "standard": 16, "tiny": 24},
        quality_range=(1, 31),
        options=lambda q: {},
    ),
}


def intra_crf(level: int) -> int:
    """The all-intra encoder's crf for a level's number: 30 + 11/14 of the way from 30,
    rounded (archive, standard, tiny: 30, 36, 41), fitted on the corpus (compare.py)."""
    return (30 * 14 + (level - 30) * 11 + 7) // 14


def resolve_quality(codec: str, quality: str | int) -> int:
    """Turn a named level or a raw number into the codec's own quality number."""
    if isinstance(quality, str):
        return CODECS[codec].levels[quality]
    return quality


def is_scene_cut(previous: np.ndarray | None, current: np.ndarray) -> bool:
    """True when two frames' signatures (Y, Cb, Cr thumbnails) say they show different scenes.

    Luma is compared normalised, so a re-exposed or slightly shifted burst shot still matches;
    chroma as it is, so that a greyscale or sepia copy is never predicted from (and tinted by)
    its colour original. A mirrored or turned copy does not correlate: a cut too.
    """
    if previous is None:
        return True
    if float(np.abs(previous[1:] - current[1:]).mean()) > SCENE_CUT_CHROMA:
        return True
    a = previous[0] - previous[0].mean()
    b = current[0] - current[0].mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if denominator == 0.0:
        return bool(np.abs(previous[0] - current[0]).mean() > 8.0)
    return float((a * b).sum()) / denominator < SCENE_CUT_CORRELATION


class VideoWriter:
    """Encodes N x N RGB frames, one per second, into one video file.

    A frame is forced to be a keyframe at every scene cut and at least every
    MAX_KEYFRAME_INTERVAL frames, so that only similar photos are ever predicted. Where the
    codec has an all-intra mode (AV1), a photo unlike both its neighbours goes to an all-intra
    encoder, which codes a keyframe for half the CPU a random-access encoder takes at the same
    preset, and each run of similar photos (a burst) to a predicting encoder of its own; their
    packets are muxed into the one track in frame order, every run starting with a keyframe.
    """

    def __init__(
        self, path: Path, codec: str, quality: int, box: int, keyframes: str = "scene"
    ) -> None:
        self.codec = CODECS[codec]
        self.fps = Fraction(FPS)
        self.time_base = TIME_BASE
        self.keyframes = keyframes
        self.box = box
        self.frames = 0
        self._quality = quality
        self._since_keyframe = 0
        self._previous: np.ndarray | None = None
        self._split = self.codec.intra_options is not None and keyframes != "encoder"
        self._held: av.VideoFrame | None = None  # a run's first photo, until its next says
        self._bursts: av.CodecContext | None = None  # the predicting encoder, while a run lasts
        self._waiting: dict[int, av.Packet] = {}  # packets that came out ahead of their turn
        self._muxed = 0  # frames whose packets are in the container
        self._container = av.open(str(path), "w", format=self.codec.container)
        stream = self._container.add_stream(self.codec.encoder, rate=FPS)
        stream.width = stream.height = box
        stream.pix_fmt = self.codec.pix_fmt
        stream.time_base = TIME_BASE
        if codec == "hevc":
            stream.codec_tag = "hvc1"  # the tag Apple's players need (a codec option is ignored)
        # Each photo's name and date as a subtitle (MP4's own text track, mov_text), so any
        # player can show what is on screen; written as raw samples, no encoder needed.
        self._captions = self._container.add_mux_stream("mov_text")
        self._captions.time_base = CAPTION_TIME_BASE
        context = stream.codec_context
        self._configure(context)
        if codec == "prores":
            # `-qscale N`; PyAV 18 converts global_quality from QP to lambda units itself.
            context.qscale = True
            context.global_quality = quality
        options = self.codec.intra_options if self._split else self.codec.options
        assert options is not None
        # Opened now: the MP4 header needs its stream header.
        open_encoder(context, options(quality), "intra" if self._split else "frames")
        self._stream = stream

    def write(self, rgb: np.ndarray, signature: np.ndarray, caption: str = "") -> tuple[float, int]:
        """Encode one frame, with `caption` as its subtitle; returns its time in seconds and its
        pts in the stream's time base."""
        if self.keyframes == "scene":
            cut = (
                is_scene_cut(self._previous, signature)
                or self._since_keyframe >= MAX_KEYFRAME_INTERVAL - 1
            )
        else:
            cut = self.keyframes == "intra"
        # A view of the array, not a copy (the copy cost 7 ms per 2048 x 2048 frame).
        frame = av.VideoFrame.from_numpy_buffer(rgb, format="rgb24")
        frame = frame.reformat(
            format=self.codec.pix_fmt,
            dst_colorspace=COLORSPACE,
            dst_color_range=COLOR_RANGE,
            interpolation=ACCURATE_SWS,
        )
        frame.pts = self.frames
        frame.time_base = Fraction(1, FPS)
        if self._split:
            self._route(frame, cut)
        else:
            if cut:
                frame.pict_type = av.video.frame.PictureType.I
            self._mux(self._stream.codec_context.encode(frame))
        if caption:
            self._container.mux(caption_packet(caption, self.frames, self._captions))
        self.frames += 1
        self._since_keyframe = 0 if cut else self._since_keyframe + 1
        self._previous = signature
        time = (self.frames - 1) / self.fps
        return float(time), round(time / self.time_base)

    def close(self) -> None:
        """Flush the encoders, finish the container and give the encoders' memory back."""
        if self._held is not None:
            self._alone(self._held)
            self._held = None
        self._end_burst()
        packets = self._stream.codec_context.encode(None)
        if self._split:
            self._collect(packets)
        else:
            self._mux(packets)
        if self._waiting:
            raise RuntimeError(f"frames {sorted(self._waiting)} came out of order")
        self._container.close()
        self._release()

    def abort(self) -> None:
        """Release the encoders without finishing the file (it is a .partial and gets removed)."""
        with contextlib.suppress(av.FFmpegError, OSError):
            self._container.close()
        self._bursts = None
        self._release()

    def _route(self, frame: av.VideoFrame, cut: bool) -> None:
        """Send the photo held back to the all-intra encoder if it stood alone, or to the
        burst encoder as the keyframe of a run; hold this one back if it starts a run."""
        held, self._held = self._held, None
        if held is not None:
            if cut:
                self._alone(held)
            else:
                held.pict_type = av.video.frame.PictureType.I
                self._collect(self._burst_encoder().encode(held))
        if cut:
            self._held = frame
        else:
            self._collect(self._burst_encoder().encode(frame))

    def _alone(self, frame: av.VideoFrame) -> None:
        """A photo unlike both its neighbours: any burst before it is over; all-intra."""
        self._end_burst()
        self._collect(self._stream.codec_context.encode(frame))

    def _burst_encoder(self) -> av.CodecContext:
        if self._bursts is None:
            context = av.CodecContext.create(self.codec.encoder, "w")
            self._configure(context)
            open_encoder(context, self.codec.options(self._quality), "bursts")
            self._bursts = context
        return self._bursts

    def _end_burst(self) -> None:
        """Flush the burst encoder: its last packets come out only then, and the frames after
        the run wait for them."""
        if self._bursts is not None:
            self._collect(self._bursts.encode(None))
            self._bursts = None

    def _configure(self, context: av.CodecContext) -> None:
        context.width = context.height = self.box
        context.pix_fmt = self.codec.pix_fmt
        context.time_base = Fraction(1, FPS)
        context.framerate = self.fps
        context.colorspace = COLORSPACE
        context.color_range = COLOR_RANGE
        context.gop_size = 1 if self.keyframes == "intra" else MAX_KEYFRAME_INTERVAL

    def _collect(self, packets: list[av.Packet]) -> None:
        """Mux packets of either encoder in frame order (each encoder keeps its own order)."""
        for packet in packets:
            self._waiting[packet.pts] = packet
        ready = []
        while self._muxed in self._waiting:
            ready.append(self._waiting.pop(self._muxed))
            self._muxed += 1
        self._mux(ready)

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            packet.stream = self._stream
        self._container.mux(packets)

    def _release(self) -> None:
        # Dropping the stream frees the codec context now, not when this writer is collected.
        del self._stream, self._container
        return_freed_memory()


def caption_packet(text: str | bytes, index: int, stream: av.stream.Stream) -> av.Packet:
    """A mov_text sample (its length, then UTF-8 text) shown while frame `index` is; given
    bytes, a sample as it was (compact.py copies them)."""
    if isinstance(text, str):
        data = text.encode("utf-8", "replace")[:MAX_CAPTION]
        text = len(data).to_bytes(2, "big") + data
    packet = av.Packet(text)
    packet.pts = packet.dts = round(index / FPS / CAPTION_TIME_BASE)
    packet.duration = round(1 / FPS / CAPTION_TIME_BASE)
    packet.stream = stream
    return packet


def open_encoder(context: av.CodecContext, options: dict[str, str], role: str) -> None:
    """Open an encoder with these options, or fail: an option the encoder did not take (or,
    for SVT-AV1, a key of svtav1-params it could not parse) is an error, not a log line.

    SVT-AV1 prints its banner, effective configuration and warnings on stderr while it opens
    (and only then): they are caught, and the first of each role kept for the run's report.
    """
    if context.name != "libsvtav1":
        context.options = options
        context.open()
    else:
        context.options = {**options, "err_detect": "explode"}
        with _stderr_caught() as caught:
            context.open()
        said = [line.split(":", 2)[2] for line in caught if "SVT [config]:" in line]
        said += [line.split(":", 1)[1] for line in caught if line.startswith("Svt[warn]")]
        _EFFECTIVE.setdefault(role, [" ".join(line.split()) for line in said])
    if context.options:
        raise ValueError(f"{context.name} did not take the options {dict(context.options)}")


_EFFECTIVE: dict[str, list[str]] = {}


def effective_configuration() -> dict[str, list[str]]:
    """What SVT-AV1 said it runs with, the first time each role (intra, bursts) opened in this
    process: presets it mapped, tunes that override other options (empty for other codecs)."""
    return dict(_EFFECTIVE)


@contextlib.contextmanager
def _stderr_caught() -> Iterator[list[str]]:
    """Catch what is written to file descriptor 2 (C libraries write there, not to
    sys.stderr). SVT-AV1's errors go on to the real stderr, and so does anything another
    thread wrote meanwhile; its info and warnings do not."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as caught:
            os.dup2(caught.fileno(), 2)
            try:
                yield lines
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                caught.seek(0)
                lines += caught.read().decode(errors="replace").splitlines()
                passed_on = [
                    line for line in lines if not line.startswith(("Svt[info]", "Svt[warn]"))
                ]
                if passed_on:
                    print("\n".join(passed_on), file=sys.stderr)
    finally:
        os.close(saved)


def return_freed_memory() -> None:
    """Hand freed heap back to the OS: glibc keeps an encoder's buffers (hundreds of MB at the
    default box) in its per-thread arenas, and each folder's new encoder would add more."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def quiet_encoders() -> None:
    """Keep SVT-AV1's and FFmpeg's banners off the terminal; errors still surface as exceptions.
    SVT-AV1 logs its configuration (level 3), which open_encoder catches for the report."""
    os.environ.setdefault("SVT_LOG", "3")
    av.logging.set_level(av.logging.ERROR)
