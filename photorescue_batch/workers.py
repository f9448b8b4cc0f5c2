"""The worker pool's seam: results in order with bounded memory, and workers that leave
Ctrl-C to the parent. The pipeline and verify both run their heavy work through it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Container, Iterable, Iterator
from typing import Any

from joblib import Parallel

PARENT_POLL = 0.5  # seconds between a worker's looks at whether its parent is still there


def in_order(
    parallel: Parallel, calls: Iterable[Any], window: int, alone: Container[int] = ()
) -> Iterator[Any]:
    """Results of `calls`, in order, with at most two windows of them held in memory.

    While the encoder consumes one window, the pool already computes the next, so both
    the workers and the encoder stay busy without results piling up unconsumed. The calls
    whose positions are in `alone` each run by themselves, in a window of their own: what
    a big decode needs is never asked of two workers at once.
    """
    ready: list[Any] = []
    for chunk in _windows(calls, window, alone):
        running = parallel(chunk)
        yield from ready
        ready = list(running)
    yield from ready


def _windows(calls: Iterable[Any], window: int, alone: Container[int]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for position, call in enumerate(calls):
        if position in alone:
            if chunk:
                yield chunk
            yield [call]
            chunk = []
            continue
        chunk.append(call)
        if len(chunk) == window:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def as_worker() -> None:
    """Called at the start of every pool task. Workers leave Ctrl-C to the parent, which stops
    the pool and tells the user; and a worker ends when its parent dies, however it dies, so a
    killed run leaves no process behind (loky's idle workers would linger for minutes)."""
    global _watching
    if multiprocessing.parent_process() is None:
        return
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not _watching:
        _watching = True
        threading.Thread(target=_end_with, args=(os.getppid(),), daemon=True).start()


_watching = False


def _end_with(parent: int) -> None:
    while os.getppid() == parent:  # an orphan is given to another parent (init)
        time.sleep(PARENT_POLL)
    os._exit(1)
