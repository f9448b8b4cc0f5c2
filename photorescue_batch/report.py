"""DEST/photorescue-report.json: what the last run did with each folder."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

from photorescue_batch import __version__
from photorescue_batch.encode import effective_configuration
from photorescue_batch.names import to_json
from photorescue_batch.pipeline import RunSummary

REPORT_NAME = "photorescue-report.json"


def write_report(dest: Path, summary: RunSummary, seconds: float, finished: bool) -> Path:
    """Write the run's report atomically, so a reader never sees half of one."""
    report = {
        "tool": f"photorescue {__version__}",
        "finished": finished,
        "seconds": round(seconds, 2),
        "folders": len(summary.outcomes),
        "photos": summary.total("photos"),
        "photos_encoded": summary.total("encoded"),
        "files_kept": summary.count("kept"),
        "kept_bytes": summary.kept_bytes,
        "files_not_backed_up": summary.count("skipped"),
        "files_not_readable": summary.unread,
        "motion_clips_kept": summary.count("trailers"),
        "motion_clip_bytes": summary.total_of("trailers"),
        "hidden_elsewhere": summary.hidden_elsewhere,
        "files_removed_from_library": summary.total("removed"),
        "photos_flattened": summary.count("flattened"),
        "photos_changed_in_place": summary.count("changed_in_place"),
        "photos_unconverted": summary.count("unconverted"),
        "input_bytes": summary.total("input_bytes"),
        "output_bytes": summary.total("output_bytes"),
        "problems": [str(p) for p in summary.problems if p.weight],
        "notes": [str(p) for p in summary.problems if not p.weight],
        "encoders": effective_configuration(),
        "outcomes": [asdict(o) for o in summary.outcomes],
    }
    path = dest / REPORT_NAME
    partial = path.with_name(path.name + ".partial")
    partial.write_text(to_json(report, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path
