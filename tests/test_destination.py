"""Any DEST a user would pick: a real exFAT file system (what USB sticks and SD cards ship
with), written by an ordinary user: folders and files that differ only in case, names with
`:` and `?`, a name that is not UTF-8. Backup finishes; restore gives every file back under its
original name and path."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BOX, NOBODY, as_a_user, run, shoot
from photorescue_batch.destination import DestRules, probe


@pytest.fixture
def exfat(tmp_path: Path) -> Iterator[Path]:
    """An exFAT file system on a loop device, owned by the ordinary user, as a stick is."""
    tools = ("mkfs.exfat", "mount.exfat-fuse", "losetup")
    if os.geteuid() != 0 or not all(map(shutil.which, tools)) or not Path("/dev/fuse").exists():
        pytest.skip("needs root, Debian's exfatprogs and exfat-fuse, and /dev/fuse")
    image, mount = tmp_path / "stick.img", tmp_path / "stick"
    with open(image, "wb") as f:
        f.truncate(256 * 2**20)
    subprocess.run(["mkfs.exfat", str(image)], check=True, capture_output=True)
    loop = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if loop.returncode != 0:
        pytest.skip(f"no loop device here: {loop.stderr.strip()}")
    device = loop.stdout.strip()
    mount.mkdir()
    try:
        options = f"uid={NOBODY},gid={NOBODY},umask=022"
        mounted = subprocess.run(
            ["mount.exfat-fuse", "-o", options, device, str(mount)], capture_output=True, text=True
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount exFAT here: {mounted.stderr.strip()}")
        yield mount
    finally:
        with contextlib.suppress(FileNotFoundError):
            subprocess.run(["umount", str(mount)], capture_output=True)
        subprocess.run(["losetup", "-d", device], capture_output=True)


def test_probing_learns_what_exfat_refuses(exfat, tmp_path):
    rules = probe(exfat)
    assert rules.case_insensitive and rules.utf8_only
    assert set(':?*"<>|\\') <= rules.refused
    assert probe(tmp_path) == DestRules()  # the Linux file system the tests run on holds all
    assert not any(exfat.iterdir())  # the probe cleans up after itself


def test_a_library_backs_up_to_exfat_and_restores_every_name(exfat, library, tmp_path):
    names = {
        "Trip/a.jpg": 1,
        "trip/b.jpg": 2,  # differs from Trip only in case
        "TRIP/sub/c.jpg": 3,
        "Notes: 2024/d.jpg": 4,  # exFAT refuses ':'
        "what?/e.jpg": 5,
        "Notes_ 2024/f.jpg": 6,  # what 'Notes: 2024' would become, if nothing told them apart
        os.fsdecode(b"caf\xe9") + "/g.jpg": 7,  # not UTF-8
    }
    for name, seed in names.items():
        shoot(library / name, seed=seed, minutes=seed)
    kept = {
        "Clips/IMG_1.MOV": b"one clip",
        "Clips/img_1.mov": b"another clip",  # differs only in case
        "Clips/a:b.txt": b"notes",
    }
    for name, data in kept.items():
        (library / name).parent.mkdir(parents=True, exist_ok=True)
        (library / name).write_bytes(data)
    user = as_a_user(tmp_path)
    dest = exfat / "photorescue"

    first = run("backup", library, dest, "--box", BOX, user=user)
    assert first.returncode == 0, first.stderr
    assert "8 folders, 7 photos (7 encoded by this run), 3 files kept" in first.stdout
    second = run("backup", library, dest, "--box", BOX, user=user)
    assert second.returncode == 0, second.stderr
    assert "(0 encoded by this run)" in second.stdout  # each folder found its own again
    run("verify", dest, check_code=0, user=user)
    rows = json.loads(run("ls", dest, "--json", check_code=0, user=user).stdout)
    assert sorted(row["folder"] for row in rows) == sorted(
        {n.rsplit("/", 1)[0] for n in [*names, *kept]}
    )

    out = tmp_path / "restored"
    result = run("restore", dest, out)
    assert result.returncode == 0, result.stderr
    restored = {os.fsencode(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert restored == {os.fsencode(n) for n in [*names, *kept]}
    for name, data in kept.items():
        assert (out / name).read_bytes() == data


def test_a_folder_dest_will_not_take_fails_alone_and_the_run_goes_on(library, tmp_path):
    for i, folder in enumerate(["A", "B", "C"]):
        shoot(library / folder / "IMG_1.jpg", seed=i)
    dest = tmp_path / "backup"
    dest.mkdir()
    (dest / "B").write_bytes(b"a file where B's folder would go")  # mkdir B fails

    result = run("backup", library, dest, "--box", BOX)

    assert result.returncode == 1, result.stderr
    assert "B: cannot write the backup" in result.stderr and "Traceback" not in result.stderr
    report = json.loads((dest / "photorescue-report.json").read_text())
    assert {o["relative"]: o["status"] for o in report["outcomes"]} == {
        "A": "done", "B": "failed", "C": "done",
    }  # fmt: skip
    assert (dest / "B").read_bytes() == b"a file where B's folder would go"
