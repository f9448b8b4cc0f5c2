"""What cannot be read is never counted as kept: it is listed as not backed up, said once, makes
the run exit 1, and is tried again by every run until it can be read. Run as an ordinary user,
as users run it; FIFOs and sockets are listed, never opened."""

from __future__ import annotations

import json
import os
import socket

from conftest import BOX, NOBODY, as_a_user, run, shoot

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
