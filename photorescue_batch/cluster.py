"""Folder jobs on a Dask cluster, through joblib's Dask backend: no scheduler of our own.

Each folder (its decoding, its encoder and its commit) runs on one Dask worker; LIBRARY and DEST
must be paths every worker sees. Folders already done are settled here, without the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from joblib import Parallel, delayed, parallel_config

from photorescue_batch.encode import quiet_encoders
from photorescue_batch.pipeline import (
    FolderOutcome,
    prepare,
    run_started,
    settle_folder,
)
from photorescue_batch.problems import Problem, Reporter
from photorescue_batch.walk import FolderJob

INSTALL = "pip install 'photorescue-batch[cluster]'"


class ClusterUnavailable(Exception):
    """Dask is not installed, or the scheduler cannot be reached."""


@dataclass
class _Collected:
    """A worker's reporter: problems travel back with the folder's outcome."""

    problems: list[Problem] = field(default_factory=list)

    def folder_started(self, job: object) -> None:
        pass

    def files_done(self, count: int) -> None:
        pass

    def problem(self, problem: Problem) -> None:
        self.problems.append(problem)


def backup_on_cluster(
    jobs: list[FolderJob],
    dest: Path,
    address: str,
    reporter: Reporter,
    verify_existing: bool = False,
    now: str | None = None,
) -> Iterator[FolderOutcome]:
    """Like `backup_library`, with the folders that have work to do spread over Dask workers."""
    now = now or run_started()
    todo = []
    for job in jobs:
        said = _Collected()  # what a folder sent to the cluster says, its worker says again
        outcome = prepare(job, dest, said, verify_existing, now)
        if not isinstance(outcome, FolderOutcome):
            todo.append(job)
            continue
        for problem in said.problems:
            reporter.problem(problem)
        reporter.files_done(len(job.files))
        yield replace(outcome, problems=tuple(said.problems))
    if not todo:
        return
    by_folder = {job.relative: job for job in todo}
    with connect(address), parallel_config(backend="dask"):
        results = Parallel(n_jobs=-1, return_as="generator_unordered", batch_size=1)(
            delayed(_backup_one_folder)(job, dest, now, verify_existing) for job in todo
        )
        try:
            for outcome, problems in results:
                job = by_folder[outcome.relative]
                reporter.folder_started(job)
                for problem in problems:
                    reporter.problem(problem)
                reporter.files_done(len(job.files))
                yield outcome
        except Exception as error:
            if type(error).__name__ != "KilledWorker":
                raise
            raise ClusterUnavailable(
                f"Dask workers kept dying on a folder ({error}); the folders finished so far "
                "are done: run the same command again to finish"
            ) from error


@contextmanager
def connect(address: str) -> Iterator[Any]:
    """A Dask client for `tcp://host:port`, or for a LocalCluster of N processes (`local:N`)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise ClusterUnavailable(f"--scheduler needs Dask and distributed: {INSTALL}") from error
    if address.startswith("local:"):
        try:
            workers = int(address.removeprefix("local:"))
        except ValueError as error:
            raise ClusterUnavailable(f"{address}: expected local:N, N worker processes") from error
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(address, timeout=30)
    except OSError as error:
        raise ClusterUnavailable(f"{address}: cannot reach the Dask scheduler: {error}") from error
    with client:
        yield client


def _backup_one_folder(
    job: FolderJob, dest: Path, now: str, verify_existing: bool
) -> tuple[FolderOutcome, list[Problem]]:
    """The task a Dask worker runs: one whole folder, decoded in the worker's own process."""
    quiet_encoders()
    collected = _Collected()
    with Parallel(n_jobs=1, return_as="generator") as pool:
        outcome = settle_folder(job, dest, pool, 4, collected, now, verify_existing)
    return outcome, collected.problems
