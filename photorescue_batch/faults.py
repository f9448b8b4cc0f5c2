"""Named points where a test can stop the run for real, to prove that stopping anywhere is safe.

With PHOTORESCUE_KILL_AT=NAME (or NAME:N for its N-th passage) in a backup's environment the
process sends itself SIGKILL there: no cleanup, no atexit, as in a power cut. With
PHOTORESCUE_KILL_SIGNAL=INT it sends SIGINT to its whole process group instead, as a terminal
does on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

_TARGET = os.environ.get("PHOTORESCUE_KILL_AT", "")
_PAUSE = os.environ.get("PHOTORESCUE_PAUSE_AT", "")
_PAUSE_FILE = os.environ.get("PHOTORESCUE_PAUSE_FILE", "")
_SIGNAL = os.environ.get("PHOTORESCUE_KILL_SIGNAL", "KILL")
_passed: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    """Stop (or pause) here if a test asked for it; otherwise a string test and nothing more."""
    if not _TARGET and not _PAUSE:
        return
    _passed[name] += 1
    if _here(_PAUSE, name):
        Path(_PAUSE_FILE).touch()
        while Path(_PAUSE_FILE).exists():
            time.sleep(0.02)
    if not _here(_TARGET, name):
        return
    if _SIGNAL == "INT":
        os.killpg(os.getpgrp(), signal.SIGINT)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


def _here(target: str, name: str) -> bool:
    wanted, _, count = target.partition(":")
    return wanted == name and _passed[name] == int(count or 1)
