"""Every problem a run meets is a value: which file, what about it, and what it means for the
exit code. The terminal line, the report and the exit code all come from these values (borg:
a printed warning sets the exit code; OCRmyPDF: each exception carries its code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

NOTE, SKIPPED = 0, 1  # weights: worth saying; the run finished with something to look at (1)


@dataclass(frozen=True)
class Problem:
    file: str  # the file or folder it is about (the library's, or DEST's)
    what: str  # what about it, and why
    weight: int = SKIPPED

    def __str__(self) -> str:
        return f"{self.file}: {self.what}"


def problem(file: Path | str, what: str, weight: int = SKIPPED) -> Problem:
    return Problem(str(file), what, weight)


class Reporter(Protocol):
    """The seam between the pipeline and the terminal (progress bar, error lines)."""

    def folder_started(self, job: object) -> None: ...
    def files_done(self, count: int) -> None: ...
    def problem(self, problem: Problem) -> None: ...


@dataclass
class Said:
    """A reporter that also keeps what one folder's backup said, for its outcome."""

    reporter: Reporter
    problems: list[Problem] = field(default_factory=list)

    def folder_started(self, job: object) -> None:
        self.reporter.folder_started(job)

    def files_done(self, count: int) -> None:
        self.reporter.files_done(count)

    def problem(self, problem: Problem) -> None:
        self.problems.append(problem)
        self.reporter.problem(problem)


def exit_weight(problems: list[Problem] | tuple[Problem, ...]) -> int:
    return max((p.weight for p in problems), default=0)
