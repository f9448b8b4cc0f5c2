"""Named points where a test can stop the run for real, to prove that stopping anywhere is safe.

With PHOTORESCUE_KILL_AT=NAME (or NAME:N for its N-th passage) in a backup's environment the
process sends itself SIGKILL there: no cleanup, no atexit, as in a power cut. With
PHOTORESCUE_KILL_SIGNAL=INT it sends SIGINT to its whole process group instead, as a terminal
does on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_TARGET = os.environ.get("PHOTORESCUE_KILL_AT", "")
_SIGNAL = os.environ.get("PHOTORESCUE_KILL_SIGNAL", "KILL")
_passed: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    """Stop here if a test asked for it; otherwise a string test and nothing more."""
    if not _TARGET:
        return
    _passed[name] += 1
    wanted, _, count = _TARGET.partition(":")
    if wanted != name or _passed[name] != int(count or 1):
        return
    if _SIGNAL == "INT":
        os.killpg(os.getpgrp(), signal.SIGINT)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
