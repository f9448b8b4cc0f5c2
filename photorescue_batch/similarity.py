"""SSIM and PSNR between a restored picture and its reference, on luma."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

_WINDOW = 7
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an H x W x 3 array (or the array itself if it is already grey)."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return rgb[..., :3].astype(np.float32) @ _LUMA


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two same-sized pictures, over 7 x 7 windows of luma."""
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"sizes differ: {a.shape[:2]} vs {b.shape[:2]}")
    x, y = luma(a), luma(b)
    if min(x.shape) < _WINDOW:
        return 1.0 if np.array_equal(x, y) else float(1 - np.abs(x - y).mean() / 255)
    mx, my = _box(x), _box(y)
    vx = _box(x * x) - mx * mx
    vy = _box(y * y) - my * my
    cov = _box(x * y) - mx * my
    index = ((2 * mx * my + _C1) * (2 * cov + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
    edge = _WINDOW // 2  # only windows that lie wholly inside the picture
    return float(index[edge:-edge, edge:-edge].mean(dtype=np.float64))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all channels (inf for identical pictures)."""
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2, dtype=np.float64))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _box(image: np.ndarray) -> np.ndarray:
    return uniform_filter(image, _WINDOW, mode="reflect")
