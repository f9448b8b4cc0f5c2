"""DEST/photorescue-report.json: what the last run did with each folder."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from photorescue_batch import __version__
from photorescue_batch.pipeline import RunSummary

REPORT_NAME = "photorescue-report.json"


def write_report(dest: Path, summary: RunSummary, seconds: float, finished: bool) -> Path:
    """Write the run's report atomically, so a reader never sees half of one."""
    report = {
        "tool": f"photorescue {__version__}",
        "finished": finished,
        "seconds": round(seconds, 2),
        "folders": len(summary.outcomes),
        "photos": summary.photos,
        "photos_encoded": summary.encoded,
        "photos_removed_from_library": summary.removed,
        "photos_changed_in_place": summary.changed_in_place,
        "photos_unconverted": summary.unconverted,
        "input_bytes": summary.input_bytes,
        "output_bytes": summary.output_bytes,
        "outcomes": [asdict(o) for o in summary.outcomes],
    }
    path = dest / REPORT_NAME
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path
