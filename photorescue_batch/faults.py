"""Named points where a test can kill the run for real, to prove a kill at any instant is safe.

Set PHOTORESCUE_KILL_AT=NAME (or NAME:N for its N-th passage) in a backup's environment and the
process sends itself SIGKILL there: no cleanup, no atexit, exactly like a power cut.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_TARGET = os.environ.get("PHOTORESCUE_KILL_AT", "")
_passed: Counter[str] = Counter()


def checkpoint(name: str) -> None:
    """Die here if a test asked for it; otherwise a dictionary lookup and nothing more."""
    if not _TARGET:
        return
    _passed[name] += 1
    wanted, _, count = _TARGET.partition(":")
    if wanted == name and _passed[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
