"""The `photorescue` command: argument parsing, the terminal, and exit codes.

Exit codes are a contract: 0 all good, 1 finished but something was skipped or is not intact,
2 could not run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import av
import numpy as np
from PIL import features
from tqdm import tqdm

from photorescue_batch import __version__
from photorescue_batch.browse import INDEX, serve, write_pages
from photorescue_batch.catalog import backed_up_folders, load_folders, ls_rows
from photorescue_batch.cluster import ClusterUnavailable, backup_on_cluster
from photorescue_batch.compact import compact_folder
from photorescue_batch.config import ConfigError, Policy, load_policy
from photorescue_batch.destination import probe
from photorescue_batch.encode import CODECS, KEYFRAME_MODES, quiet_encoders
from photorescue_batch.lock import CannotLock, writing
from photorescue_batch.names import to_json
from photorescue_batch.pipeline import DEFAULT_MEMORY, RunSummary, backup_library, run_started
from photorescue_batch.problems import Problem, exit_weight
from photorescue_batch.repair import repair_folder, resolve_folders
from photorescue_batch.report import REPORT_NAME, write_report
from photorescue_batch.restore import count_selected, restore
from photorescue_batch.transaction import DestinationError, FolderUnwritable, committed
from photorescue_batch.walk import VIDEO, FolderJob, WalkReport, vanished_jobs, walk_library

EXIT_OK, EXIT_SKIPPED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class CannotRun(Exception):
    """A problem that stops the run before or during the work (exit code 2)."""


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a name's bytes go out as they are (names.py)
        stream.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    _quiet_after_ctrl_c()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CannotRun as error:
        print(f"photorescue: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted — run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # a bug of ours: say so, and never pass for "finished" (exit code 1)
        traceback.print_exc()
        print("photorescue: internal error (see above); please report it", file=sys.stderr)
        return EXIT_ERROR


_interrupted = threading.Event()


def _quiet_after_ctrl_c() -> None:
    """Once Ctrl-C is pressed, the pool's own threads may fail while it shuts down (loky's
    executor manager looks up a task joblib has just cancelled); the one line the user gets
    is ours. An ignored SIGINT (a job started in the background) stays ignored."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def interrupt(signum: int, frame: object) -> None:
        _interrupted.set()
        raise KeyboardInterrupt

    report = threading.excepthook
    signal.signal(signal.SIGINT, interrupt)
    threading.excepthook = lambda args: None if _interrupted.is_set() else report(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photorescue",
        description="Back up a photo library as one small video per folder, plus a sidecar "
        "that keeps every photo's metadata and place, and give the photos back.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    backup = commands.add_parser(
        "backup",
        help="back up LIBRARY into DEST (resumable, incremental, append-only)",
        description="Turn every folder under LIBRARY into a video of its photos plus a sidecar "
        "under DEST; videos, sidecar files and other files are kept byte for byte, and what is "
        "not backed up is listed with why. A rerun encodes only new or changed photos, into a "
        "new segment of the folder's backup; files deleted from LIBRARY stay in the backup, "
        "marked removed. "
        "Rerun the same command to resume.",
    )
    backup.add_argument(
        "library", type=Path, metavar="LIBRARY", help="the photo library (only read)"
    )
    backup.add_argument("dest", type=Path, metavar="DEST", help="where the backup goes")
    backup.add_argument("--config", type=Path, metavar="FILE", help="YAML policy (see configs/)")
    backup.add_argument("--box", type=int, metavar="N", help="frame size N x N for every folder")
    backup.add_argument("--codec", choices=sorted(CODECS), help="codec for every folder")
    backup.add_argument(
        "--quality",
        type=_quality,
        metavar="Q",
        help="archive, standard, tiny, or the codec's own crf/qscale",
    )
    backup.add_argument(
        "--keyframes",
        choices=KEYFRAME_MODES,
        help="scene (default): a keyframe wherever the photo changes; intra: every frame",
    )
    _add_jobs(backup, "worker processes (default: all cores)")
    backup.add_argument(
        "--memory",
        type=_byte_count,
        default=DEFAULT_MEMORY,
        metavar="SIZE",
        help="memory the workers' decodes may take together, e.g. 800M or 4G (default: 1.5G); "
        "a photo that needs more than its worker's share is decoded alone",
    )
    backup.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="run the folders on a Dask cluster: tcp://host:8786, or local:N for N processes",
    )
    backup.add_argument("-n", "--dry-run", action="store_true", help="list what would be done")
    _add_wait(backup)
    backup.add_argument(
        "--verify-existing",
        action="store_true",
        help="re-hash finished videos, and every library photo against its backup (reports "
        "photos changed in place, which are never backed up over their good copy)",
    )
    backup.set_defaults(run=run_backup)

    restore = commands.add_parser(
        "restore",
        help="give the photos back as JPEG files under OUT",
        description="Restore the whole backup, or the folders and photos named by their paths "
        "relative to the library: the newest version of each, photos deleted from the library "
        "included. Each photo comes back upright, cropped to its rect, with its EXIF "
        "(orientation reset to 1) and its original mtime. Nothing is written outside OUT.",
    )
    restore.add_argument("dest", type=Path, metavar="DEST", help="the backup")
    restore.add_argument("out", type=Path, metavar="OUT", help="where the photos go")
    restore.add_argument("paths", nargs="*", metavar="PATH", help="folders or photos to restore")
    restore.add_argument(
        "--jpeg-quality",
        type=int,
        default=92,
        metavar="Q",
        help="quality of the JPEGs written (default: 92)",
    )
    restore.add_argument(
        "--all-versions",
        action="store_true",
        help="also give back older versions of changed photos, as NAME.vN.jpg",
    )
    restore.add_argument("--force", action="store_true", help="overwrite files that exist")
    restore.set_defaults(run=run_restore)

    verify = commands.add_parser(
        "verify",
        help="decode every frame and check the backup against its sidecars",
        description="Decode every video, check frame counts and checksums against the sidecars. "
        "Exit code 0 when everything is intact, 1 when anything is not.",
    )
    verify.add_argument("dest", type=Path, metavar="DEST", help="the backup")
    verify.add_argument(
        "--against",
        type=Path,
        metavar="LIBRARY",
        help="also compare every photo with its original (SSIM and colour error) and list "
        "library files that the backup does not account for",
    )
    _add_jobs(verify, "worker processes comparing photos with --against (default: all cores)")
    verify.set_defaults(run=run_verify)

    ls = commands.add_parser("ls", help="list the backed-up folders")
    ls.add_argument("dest", type=Path, metavar="DEST", help="the backup")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(run=run_ls)

    compact = commands.add_parser(
        "compact",
        help="merge each folder's segments into one video, without re-encoding",
        description="Merge the segments that reruns added to a folder's backup into one video "
        "by copying their compressed frames (segments made with other settings stay apart). "
        "Nothing is dropped unless --forget-removed is given.",
    )
    compact.add_argument("dest", type=Path, metavar="DEST", help="the backup")
    compact.add_argument("paths", nargs="*", metavar="PATH", help="folders to compact (all)")
    compact.add_argument(
        "--forget-removed",
        action="store_true",
        help="drop the photos that the library no longer holds (they cannot be restored after)",
    )
    _add_wait(compact)
    compact.set_defaults(run=run_compact)

    repair = commands.add_parser(
        "repair",
        help="rebuild lost or damaged sidecars from the videos' own records",
        description="Every segment's video carries the records of its photos. Write each "
        "folder's sidecar anew where it is missing, cannot be read, or does not name every "
        "segment and kept file in the folder's directory. A damaged sidecar is moved aside "
        "(<folder>.damaged.xml.gz), never deleted; nothing else is touched.",
    )
    repair.add_argument("dest", type=Path, metavar="DEST", help="the backup")
    _add_wait(repair)
    repair.set_defaults(run=run_repair)

    browse = commands.add_parser(
        "browse",
        help="write offline web pages to look through the backup",
        description="Write DEST/index.html, a page and a subtitle file per folder, all from the "
        "sidecars. Nothing on the pages is fetched from the internet.",
    )
    browse.add_argument("dest", type=Path, metavar="DEST", help="the backup")
    browse.add_argument("--serve", action="store_true", help="also serve DEST on 127.0.0.1")
    browse.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
    _add_wait(browse)
    browse.set_defaults(run=run_browse)
    return parser


def _byte_count(text: str) -> int:
    """A size given on the command line: 1.5G, 800M or 1048576 (bytes)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    number, unit = (text[:-1], units[text[-1].upper()]) if text[-1:].upper() in units else (text, 1)
    try:
        size = int(float(number) * unit)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 800M, 1.5G)") from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0")
    return size


def _add_wait(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--wait",
        action="store_true",
        help="if another photorescue is writing DEST, wait for it instead of exiting with 2",
    )


@contextmanager
def _writing(dest: Path, args: argparse.Namespace, command: str) -> Iterator[None]:
    """Hold DEST's lock (lock.py) for a command that writes it."""
    try:
        with writing(dest, command, args.wait, lambda m: print(m, file=sys.stderr, flush=True)):
            yield
    except CannotLock as error:
        raise CannotRun(str(error)) from error


def _add_jobs(command: argparse.ArgumentParser, help: str) -> None:
    command.add_argument(
        "-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N", help=help
    )


def version_text() -> str:
    lcms = features.version("littlecms2")
    colour = f"LittleCMS {lcms}" if lcms else "without LittleCMS: no colour management"
    return f"photorescue {__version__} ({pillow_flavour()}, {colour})"


def pillow_flavour() -> str:
    """Which Pillow is doing the resizing: Pillow-SIMD is several times faster at it."""
    for distribution in ("pillow-simd", "pillow"):
        try:
            return (
                f"{'Pillow-SIMD' if distribution == 'pillow-simd' else 'Pillow'} "
                + metadata.version(distribution)
            )
        except metadata.PackageNotFoundError:
            continue
    return "Pillow (unknown version)"


def run_backup(args: argparse.Namespace) -> int:
    library, dest = args.library, args.dest
    if not library.is_dir():
        raise CannotRun(f"{library}: not a folder")
    _check_apart(library, dest)
    if args.jobs < 1:
        raise CannotRun("--jobs must be at least 1")
    try:
        policy = load_policy(args.config).with_overrides(
            box=args.box, codec=args.codec, quality=args.quality, keyframes=args.keyframes
        )
    except ConfigError as error:
        raise CannotRun(str(error)) from error
    if args.dry_run:
        jobs, _ = _jobs(library, dest, policy)
        return dry_run(jobs, dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CannotRun(f"{dest}: cannot create: {error.strerror or error}") from error
    with _writing(dest, args, "backup"):
        return _backup(args, library, dest, policy)


def _check_apart(library: Path, dest: Path) -> None:
    """Nothing is ever written inside LIBRARY: DEST may lie inside it (the walk leaves DEST
    out), but not be it, nor hold it, where a library folder's backup could land on it."""
    library, dest = library.resolve(), dest.resolve()
    if dest == library:
        raise CannotRun("DEST must not be LIBRARY itself: nothing is ever written into the library")
    if dest in library.parents:
        raise CannotRun(
            f"DEST ({dest}) holds LIBRARY ({library}), so a library folder's backup could be "
            f"written into the library: give a DEST folder of its own, e.g. {dest / 'photorescue'}"
        )


def _jobs(library: Path, dest: Path, policy: Policy) -> tuple[list[FolderJob], WalkReport]:
    """Every folder of the library, and every folder the backup holds that the library lost."""
    walked = WalkReport()
    jobs = list(walk_library(library, dest, policy, walked))
    backed_up = [relative for relative, _ in backed_up_folders(dest)] if dest.is_dir() else []
    jobs += vanished_jobs(library, backed_up, jobs, policy)
    return jobs, walked


def _backup(args: argparse.Namespace, library: Path, dest: Path, policy: Policy) -> int:
    jobs, walked = _jobs(library, dest, policy)
    try:
        rules = probe(dest)
    except OSError as error:
        raise CannotRun(f"{dest}: cannot write: {error.strerror or error}") from error
    if not rules.plain:  # a USB stick's exFAT, say: names it refuses or folds get stand-ins
        placed = resolve_folders(dest, [job.relative for job in jobs], rules)
        jobs = [replace(job, placed=placed[job.relative]) for job in jobs]
    quiet_encoders()
    started, now = time.monotonic(), run_started()
    summary = RunSummary(hidden_elsewhere=walked.hidden, walk_problems=walked.problems)
    total = sum(len(j.files) for j in jobs)
    finished = False
    try:
        with tqdm(total=total, unit="file", dynamic_ncols=True, file=sys.stderr) as bar:
            reporter = _BarReporter(bar)
            for problem in walked.problems:
                reporter.problem(problem)
            if args.scheduler:
                outcomes = backup_on_cluster(
                    jobs, dest, args.scheduler, reporter, args.verify_existing, now
                )
            else:
                outcomes = backup_library(
                    jobs, dest, args.jobs, reporter, args.verify_existing, now, args.memory
                )
            for outcome in outcomes:
                summary.outcomes.append(outcome)
        finished = True
    except (DestinationError, ClusterUnavailable) as error:
        raise CannotRun(str(error)) from error
    finally:
        _try_report(dest, summary, time.monotonic() - started, finished)
    print(summary_line(summary, time.monotonic() - started))
    # What the run met, and photos the backup holds only as their original bytes: the summary
    # line names those at every run, and so does the exit code (a resumed run included).
    skipped = exit_weight(summary.problems) or summary.count("unconverted")
    return EXIT_SKIPPED if skipped else EXIT_OK


def _try_report(dest: Path, summary: RunSummary, seconds: float, finished: bool) -> None:
    """The report is a courtesy: a full disk must not hide the error that matters."""
    try:
        write_report(dest, summary, seconds, finished)
    except OSError as error:
        print(f"photorescue: could not write the report: {error}", file=sys.stderr)


def run_restore(args: argparse.Namespace) -> int:
    _require_backup(args.dest)
    if not 1 <= args.jpeg_quality <= 100:
        raise CannotRun("--jpeg-quality must be from 1 to 100")
    quiet_encoders()
    unreadable: list[str] = []
    folders = list(load_folders(args.dest, unreadable.append))
    total = count_selected(folders, args.paths, args.all_versions)
    with tqdm(total=total, unit="photo", dynamic_ncols=True, file=sys.stderr) as bar:
        result = restore(
            folders,
            args.out,
            args.paths,
            args.jpeg_quality,
            args.force,
            args.all_versions,
            bar.update,
        )
    result.problems[:0] = unreadable
    for problem in result.problems:
        print(f"photorescue: {problem}", file=sys.stderr)
    print(f"{result.restored} photos restored into {args.out}")
    return EXIT_SKIPPED if result.problems else EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    from photorescue_batch.verify import verify  # SciPy (for SSIM) loads only when verifying

    _require_backup(args.dest)
    if args.against is not None and not args.against.is_dir():
        raise CannotRun(f"{args.against}: not a folder")
    quiet_encoders()
    with tqdm(unit="frame", dynamic_ncols=True, file=sys.stderr) as bar:
        result = verify(args.dest, args.against, bar.update, max(1, args.jobs))
    for problem in result.unreadable:
        print(f"BAD  {problem}")
    for check in result.folders:
        quality = ""
        if check.ssims:
            quality = (
                f"  SSIM mean {np.mean(check.ssims):.3f} min {min(check.ssims):.3f}, colour "
                f"error mean {np.mean(check.colour_errors):.1f} max {max(check.colour_errors):.1f}"
            )
        state = "ok  " if check.intact else "BAD "
        extra = "".join(
            f", {n} {what}"
            for n, what in (
                (check.kept, "kept files"),
                (check.not_backed_up, "not backed up"),
                (len(check.removed), "removed from the library"),
                (check.older_versions, "older versions"),
                (check.segments, "segments"),
            )
            if n
        )
        print(f"{state} {check.folder}  {check.photos} photos{extra}{quality}")
        for problem in check.problems:
            print(f"       {problem}")
        for change in check.changed:
            print(f"       changed: {change}")
        for name in check.removed:
            print(f"       removed from the library (still in the backup): {name}")
    for path in result.missing:
        print(f"MISSING  {path}  (in the library, not accounted for in the backup)")
    bad = sum(not c.intact for c in result.folders) + len(result.unreadable)
    changed = sum(len(c.changed) for c in result.folders)
    removed = sum(len(c.removed) for c in result.folders)
    line = f"{len(result.folders)} folders checked, {bad} bad"
    if args.against is not None:
        line += (
            f", {len(result.missing)} library files not in the backup, {changed} changed in "
            f"the library, {removed} removed from the library (kept in the backup)"
        )
    print(line)
    return EXIT_OK if result.intact else EXIT_SKIPPED


def run_ls(args: argparse.Namespace) -> int:
    _require_backup(args.dest)
    problems: list[str] = []
    rows = ls_rows(list(load_folders(args.dest, problems.append)))
    for problem in problems:
        print(f"photorescue: {problem}", file=sys.stderr)
    if args.json:
        print(to_json(rows, indent=2))
        return EXIT_SKIPPED if problems else EXIT_OK
    print(
        f"{'folder':32} {'photos':>7} {'removed':>7} {'older':>5} {'segs':>4} "
        f"{'original':>10} {'backup':>10} {'ratio':>6}  box   codec"
    )
    for row in rows:
        ratio = f"{row['ratio']:.1f}" if row["ratio"] else "-"
        print(
            f"{row['folder']:32} {row['photos']:>7} {row['removed']:>7} "
            f"{row['older_versions']:>5} {row['segments']:>4} "
            f"{_size(row['original_bytes']):>10} {_size(row['backup_bytes']):>10} {ratio:>6}  "
            f"{row['box'] or '-':<5} {row['codec'] or '-'}"
        )
    return EXIT_SKIPPED if problems else EXIT_OK


def run_compact(args: argparse.Namespace) -> int:
    _require_backup(args.dest)
    with _writing(args.dest, args, "compact"):
        return _compact(args)


def _compact(args: argparse.Namespace) -> int:
    problems: list[str] = []
    wanted = {p.strip("/") or "." for p in args.paths}
    folders = [
        f
        for f in load_folders(args.dest, problems.append)
        if not wanted or (f.record.folder or ".") in wanted
    ]
    for name in wanted - {f.record.folder or "." for f in folders}:
        problems.append(f"{name}: not a folder of the backup")
    now = run_started()
    forgotten = 0
    for folder in tqdm(folders, unit="folder", dynamic_ncols=True, file=sys.stderr):
        try:
            outcome = compact_folder(folder, args.forget_removed, now, args.dest)
        except DestinationError as error:
            raise CannotRun(str(error)) from error
        except (OSError, av.FFmpegError, FolderUnwritable) as error:
            problems.append(f"{folder.sidecar}: cannot compact: {error}; left as it was")
            continue
        forgotten += outcome.forgotten
        if outcome.removed_kept:
            problems.append(
                f"{outcome.folder}: {outcome.removed_kept} removed photos kept: their frames "
                "share a keyframe group with photos still in the library"
            )
        print(
            f"{outcome.folder}: {outcome.segments_before} -> {outcome.segments_after} videos, "
            f"{_size(outcome.bytes_before)} -> {_size(outcome.bytes_after)}"
        )
    for problem in problems:
        print(f"photorescue: {problem}", file=sys.stderr)
    if args.forget_removed:
        print(f"{forgotten} removed photos forgotten")
    return EXIT_SKIPPED if problems else EXIT_OK


def run_repair(args: argparse.Namespace) -> int:
    _require_backup(args.dest)
    left: list[str] = []
    repaired = 0
    with _writing(args.dest, args, "repair"):
        for relative, layout in backed_up_folders(args.dest):
            try:
                index = repair_folder(layout, relative)
            except OSError as error:
                left.append(f"{layout.directory}: cannot write: {error.strerror or error}")
                continue
            for said in index.said(layout):
                print(f"photorescue: {said}", file=sys.stderr)
            if index.rebuilt:
                repaired += 1
                print(f"{relative or '.'}: sidecar written anew from its index")
            if index.unindexed or index.record is None:
                left.append(f"{layout.directory}: not all of it could be indexed (see above)")
            elif index.damaged:
                print(f"{relative or '.'}: damaged sidecar moved aside")
    for problem in left:
        print(f"photorescue: {problem}", file=sys.stderr)
    print(f"{repaired} folders repaired")
    return EXIT_SKIPPED if left else EXIT_OK


def run_browse(args: argparse.Namespace) -> int:
    _require_backup(args.dest)
    problems: list[str] = []
    with _writing(args.dest, args, "browse"):
        index = write_pages(args.dest, problems.append)
    for problem in problems:
        print(f"photorescue: {problem}", file=sys.stderr)
    print(f"wrote {index}")
    if args.serve:
        try:
            server = serve(args.dest, args.port)
        except OSError as error:
            raise CannotRun(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror}") from error
        print(f"serving http://127.0.0.1:{server.server_port}/{INDEX}  (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return EXIT_SKIPPED if problems else EXIT_OK


def _require_backup(dest: Path) -> None:
    if not dest.is_dir():
        raise CannotRun(f"{dest}: not a folder")


def dry_run(jobs: list[FolderJob], dest: Path) -> int:
    for job in jobs:
        s = job.settings
        state = "to do" if committed(job, dest) is None else "up to date"
        print(
            f"{job.relative or '.'}\t{len(job.photos)} photos\t{len(job.others)} other files\t"
            f"{_size(job.input_bytes)}\t"
            f"box {s.box} {s.codec} q{s.quality}\t{state}"
        )
    photos, others = sum(len(j.photos) for j in jobs), sum(len(j.others) for j in jobs)
    print(f"{len(jobs)} folders, {photos} photos, {others} other files")
    return EXIT_OK


def _videos(summary: RunSummary) -> str:
    videos = sum(k.bytes for o in summary.outcomes for k in o.kept if k.kind == VIDEO)
    return f", videos {_size(videos)}" if videos else ""


def summary_line(summary: RunSummary, seconds: float) -> str:
    """The last line of a backup: where every file of the library is, and what it cost."""
    total = summary.total
    inputs, outputs = total("input_bytes"), total("output_bytes")
    ratio = inputs / outputs if outputs else 0.0
    skipped = summary.count("skipped") + summary.hidden_elsewhere
    line = (
        f"{len(summary.outcomes)} folders, {total('photos')} photos "
        f"({total('encoded')} encoded by this run), {summary.count('kept')} files kept byte "
        f"for byte ({_size(summary.kept_bytes)}{_videos(summary)}), {skipped} not backed up "
        f"(see {REPORT_NAME}); "
        f"{_size(inputs)} -> {_size(outputs)} ({ratio:.1f}:1) in {seconds:.1f} s"
    )
    notes = [
        (total("removed"), "files removed from the library, still in the backup"),
        (summary.count("flattened"), "photos with transparency flattened"),
        (summary.count("changed_in_place"), "photos changed in place (possible bit rot), "
         "their earlier version kept"),
        (summary.count("damaged"), "damaged videos in the backup"),
        (summary.count("repaired"), "problems with the backup's index (see above)"),
        (summary.count("unconverted"), "photos kept unconverted"),
        (summary.unread, "files that could not be read (tried again by the next run)"),
        (summary.count("trailers"), f"motion clips and other bytes after a JPEG's image kept "
         f"({_size(summary.total_of('trailers'))})"),
    ]  # fmt: skip
    return line + "".join(f"; {n} {what}" for n, what in notes if n)


class _BarReporter:
    """Progress bar and error lines; workers never write to the terminal themselves."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar

    def folder_started(self, job: FolderJob) -> None:
        self.bar.set_description_str(job.relative or job.folder.name)

    def files_done(self, count: int) -> None:
        self.bar.update(count)

    def problem(self, problem: Problem) -> None:
        self.bar.write(f"photorescue: {problem}", file=sys.stderr)


def _quality(text: str) -> str | int:
    return int(text) if text.lstrip("-").isdigit() else text


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
