"""The worker pool's seam: results in order with bounded memory, and workers that leave
Ctrl-C to the parent. The pipeline and verify both run their heavy work through it."""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from joblib import Parallel


def in_order(parallel: Parallel, calls: Iterable[Any], window: int) -> Iterator[Any]:
    """Results of `calls`, in order, with at most two windows of them held in memory.

    While the encoder consumes one window, the pool already computes the next, so both
    the workers and the encoder stay busy without results piling up unconsumed.
    """
    calls = iter(calls)
    ready: list[Any] = []
    while chunk := list(islice(calls, window)):
        running = parallel(chunk)
        yield from ready
        ready = list(running)
    yield from ready


def ignore_ctrl_c() -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and tells the user."""
    in_worker = multiprocessing.parent_process() is not None
    if in_worker and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
