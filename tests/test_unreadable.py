"""What cannot be read is never counted as kept: it is listed as not backed up, said once, makes
the run exit 1, and is tried again by every run until it can be read. Run as an ordinary user,
as users run it; FIFOs and sockets are listed, never opened."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess

from conftest import (
    BOX,
    NOBODY,
    as_a_user,
    command,
    content_ssim,
    folder_frames,
    record_of,
    run,
    shoot,
    wait_until,
)

UNREADABLE = ["Phone/IMG_2.jpg", "Phone/clip.mov", "Phone/notes.txt"]


def test_unreadable_files_are_not_kept_and_come_back_once_they_can_be_read(library, tmp_path):
    shoot(library / "Phone" / "IMG_1.jpg", seed=1)
    shoot(library / "Phone" / "IMG_2.jpg", seed=2, minutes=1)
    (library / "Phone" / "clip.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"x" * 100)
    (library / "Phone" / "notes.txt").write_text("the lake\n")
    shoot(library / "Locked" / "IMG_9.jpg", seed=9)
    os.mkfifo(library / "Phone" / "pipe.jpg")
    os.mkfifo(library / "Phone" / "pipe.txt")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(library / "Phone" / "sock"))
    (library / "Phone" / "gone.jpg").symlink_to(library / "nowhere.jpg")
    for name in UNREADABLE:
        (library / name).chmod(0)
    (library / "Locked").chmod(0)
    user = as_a_user(tmp_path)
    dest = tmp_path / "backup"
    dest.mkdir()
    os.chown(dest, NOBODY, NOBODY)

    first = run("backup", library, dest, "--box", BOX, user=user)

    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    for name in UNREADABLE:
        assert first.stderr.count(name) == 1, first.stderr  # said once, with why
    assert "Locked: cannot list: Permission denied" in first.stderr
    report = json.loads((dest / "photorescue-report.json").read_text())
    [phone] = [o for o in report["outcomes"] if o["relative"] == "Phone"]
    assert phone["kept"] == []  # "kept" means its bytes are in DEST
    skipped = {s["name"]: s for s in phone["skipped"]}
    for name in UNREADABLE:
        entry = skipped[name.split("/")[1]]
        assert "Permission denied" in entry["reason"] and entry["retry"]
    assert "named pipe" in skipped["pipe.jpg"]["reason"] and not skipped["pipe.jpg"]["retry"]
    assert "named pipe" in skipped["pipe.txt"]["reason"]
    assert "socket" in skipped["sock"]["reason"]
    assert "link to nowhere" in skipped["gone.jpg"]["reason"]
    assert report["files_kept"] == 0 and report["files_not_readable"] == 3
    for name in [*UNREADABLE, "Locked"]:  # the report's problems: each once, as printed
        said = [p for p in report["problems"] if f"/{name}: " in p]
        assert len(said) == 1 and f"photorescue: {said[0]}" in first.stderr, name
    assert "0 files kept byte for byte" in first.stdout
    verified = run("verify", dest, "--against", library, user=user)
    assert verified.returncode == 1
    assert all(f"MISSING  {name}" in verified.stdout for name in UNREADABLE)

    for name in UNREADABLE:
        (library / name).chmod(0o644)
    (library / "Locked").chmod(0o755)
    second = run("backup", library, dest, "--box", BOX, user=user)

    assert second.returncode == 0, second.stderr  # the FIFOs and the socket stay listed
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert report["photos_encoded"] == 2  # IMG_2 and Locked/IMG_9, nothing again
    assert report["files_not_readable"] == 0
    out = tmp_path / "restored"
    run("restore", dest, out, check_code=0)
    restored = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert restored == {"Phone/IMG_1.jpg", "Locked/IMG_9.jpg", *UNREADABLE}
    assert (out / "Phone" / "notes.txt").read_text() == "the lake\n"
    server.close()


def test_a_kept_copy_deleted_from_dest_is_taken_again(library, tmp_path):
    shoot(library / "A" / "IMG_1.jpg", seed=1)
    (library / "A" / "notes.txt").write_text("the lake\n")
    dest = tmp_path / "backup"
    run("backup", library, dest, "--box", BOX, check_code=0)
    (dest / "A" / "A.kept" / "notes.txt").unlink()
    run("backup", library, dest, "--box", BOX, check_code=0)
    run("verify", dest)  # says what is gone; the newest copy is there again
    out = tmp_path / "restored"
    run("restore", dest, out, check_code=0)
    assert (out / "A" / "notes.txt").read_text() == "the lake\n"


def test_a_photo_rewritten_while_it_is_read_is_recorded_as_one_version(library, tmp_path):
    """A photo manager rewrites IMG_1.jpg (another picture, another orientation) just after
    the worker has read its metadata: the record is the new version, whole, never a mix."""
    path = library / "A" / "IMG_1.jpg"
    shoot(path, size=(480, 320), seed=1, orientation=6)  # a portrait, turned by EXIF
    rewritten = tmp_path / "rewritten.jpg"
    upright = shoot(rewritten, size=(400, 300), seed=2, orientation=1)
    pause = tmp_path / "paused"
    dest = tmp_path / "backup"
    process = subprocess.Popen(
        command("backup", library, dest, "--box", BOX, "--jobs", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "PHOTORESCUE_PAUSE_AT": "metadata-read:1",
            "PHOTORESCUE_PAUSE_FILE": str(pause),
        },
    )
    wait_until(pause.exists, what="the read to pause")
    os.replace(rewritten, path)  # as an editor saves: a new file under the old name
    pause.unlink()
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr

    [photo] = record_of(dest, "A").photos
    st = path.stat()
    assert (photo.bytes, photo.mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert photo.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert photo.orientation == 1 and (photo.width, photo.height) == (400, 300)
    [frame] = folder_frames(dest, "A")
    assert content_ssim(frame, upright, photo.rect) > 0.8
    rerun = run("backup", library, dest, "--box", BOX, check_code=0)
    assert "(0 encoded by this run)" in rerun.stdout
