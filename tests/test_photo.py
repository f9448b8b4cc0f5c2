"""Frames: cheap decoding, orientation, shrink-only fit, and the letterbox."""

from __future__ import annotations

import time

import numpy as np
import pytest
from joblib import Parallel, delayed
from PIL import Image

from conftest import shoot
from photorescue_batch.photo import Image as PhotoImage
from photorescue_batch.photo import (
    UnreadablePhoto,
    decode_cost,
    decode_draft,
    fit,
    fit_photo,
    open_photo,
)
from photorescue_batch.workers import in_order


def test_fit_shrinks_to_the_box_and_never_enlarges():
    assert fit(6000, 4000, 2048) == fit(3000, 2000, 2048)
    p = fit(6000, 4000, 2048)
    assert (p.w, p.h) == (2048, 1365) and p.x == 0 and p.y == 336  # (2048 - 1365) // 2 = 341
    small = fit(800, 600, 2048)
    assert (small.w, small.h, small.x, small.y) == (800, 600, 624, 720), "on the 8-pixel grid"
    tall = fit(1000, 5000, 500)
    assert (tall.w, tall.h) == (100, 500)


def test_jpeg_decodes_at_the_smallest_dct_scale_that_still_covers_the_box(library):
    path = library / "big.jpg"
    shoot(path, size=(1600, 1200))
    image = open_photo(path)
    target = fit(*image.size, 256)
    decoded = decode_draft(image, (target.w, target.h), path)
    # 1600/8 = 200 < 256 <= 1600/4 = 400: the 1/4 scale is the smallest that still covers it.
    assert decoded.size == (400, 300)


def test_make_frame_returns_only_the_rect_pixels_and_the_letterbox_adds_black_bars(library):
    path = library / "a.jpg"
    shoot(path, size=(400, 200))
    frame = fit_photo(path, orientation=1, box=128)
    p = frame.placement
    assert (p.w, p.h, p.x, p.y) == (128, 64, 0, 32)
    assert len(frame.content) == 128 * 64 * 3
    full = frame.letterboxed(128)
    assert full.shape == (128, 128, 3)
    assert full[:32].max() == 0 and full[96:].max() == 0 and full[32:96].mean() > 20


@pytest.mark.parametrize("mode", ["L", "CMYK", "I;16", "P", "RGBA", "LA"])
def test_any_pixel_mode_becomes_rgb(library, mode):
    path = library / "x.png" if mode != "CMYK" else library / "x.jpg"
    base = Image.new("RGB", (64, 48), (200, 100, 50))
    if mode == "I;16":
        Image.fromarray(np.full((48, 64), 40000, dtype=np.uint16)).save(path)
    elif mode == "P":
        base.convert("P").save(path, transparency=0)
    else:
        base.convert(mode).save(path)
    frame = fit_photo(path, 1, 64)
    assert frame.letterboxed(64).shape == (64, 64, 3)


def test_a_file_that_is_not_an_image_is_unreadable_with_its_name(library):
    path = library / "notes.jpg"
    path.write_text("hello")
    with pytest.raises(UnreadablePhoto) as error:
        fit_photo(path, 1, 64)
    assert str(path) in str(error.value)


def test_bombs_are_refused_before_decoding(library):
    path = library / "bomb.png"
    PhotoImage.MAX_IMAGE_PIXELS, saved = None, PhotoImage.MAX_IMAGE_PIXELS
    try:
        Image.new("1", (30000, 30000)).save(path)  # 900 MP, a few hundred KB on disk
    finally:
        PhotoImage.MAX_IMAGE_PIXELS = saved
    with pytest.raises(UnreadablePhoto, match="bomb"):
        fit_photo(path, 1, 64)


def _touch(directory, i):
    (directory / f"started-{i}").touch()
    return i


def test_in_order_keeps_order_and_bounds_the_work_ahead_of_the_consumer(tmp_path):
    window = 3
    with Parallel(n_jobs=2, return_as="generator", batch_size=1, pre_dispatch="all") as pool:
        calls = (delayed(_touch)(tmp_path, i) for i in range(20))
        for expected, got in enumerate(in_order(pool, calls, window)):
            assert got == expected
            started = len(list(tmp_path.iterdir()))
            assert started <= expected + 1 + 2 * window, "results must not pile up unconsumed"


def _span(seconds: float) -> tuple[float, float]:
    started = time.monotonic()  # one clock for every process on the machine
    time.sleep(seconds)
    return started, time.monotonic()


def test_a_call_marked_alone_runs_while_no_other_does():
    with Parallel(n_jobs=2, return_as="generator", batch_size=1, pre_dispatch="all") as pool:
        calls = (delayed(_span)(0.3) for _ in range(7))
        spans = list(in_order(pool, calls, window=4, alone={2, 3}))

    def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    for lone in (2, 3):
        assert not any(overlap(spans[lone], s) for i, s in enumerate(spans) if i != lone)
    assert overlap(spans[0], spans[1]), "the others still share the pool"


def test_the_decode_cost_counts_a_jpeg_at_its_dct_scale_and_a_png_whole(library):
    shoot(library / "big.jpg", size=(1600, 1200))
    Image.new("RGB", (1600, 1200)).save(library / "big.png")
    jpeg, png = (decode_cost(library / name, False, 256) for name in ("big.jpg", "big.png"))
    assert png >= 2 * 1600 * 1200 * 3
    assert jpeg == 2 * 400 * 300 * 3, "decoded at 1/4 scale"
    assert decode_cost(library / "missing.png", False, 256) == 0


def test_the_letterbox_repeats_the_rects_edges_out_to_the_block_grid(library):
    path = library / "a.jpg"
    shoot(path, size=(300, 203))
    frame = fit_photo(path, orientation=1, box=256)
    p = frame.placement
    assert (p.x, p.y, p.w, p.h) == (0, 40, 256, 173)  # centred would be y = 41
    full = frame.letterboxed(256).astype(int)
    assert (full[213:216] == full[212]).all(), "the last row, out to row 216"
    assert full[:40].max() == 0 and full[216:].max() == 0, "black beyond"
