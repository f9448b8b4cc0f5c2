"""Any name a file system holds: bytes that are not UTF-8, XML's and HTML's own characters, a
newline. Each is backed up, listed, browsed, verified and restored under its exact bytes."""

from __future__ import annotations

import json
import os

from conftest import BOX, run, shoot
from photorescue_batch.sidecar import read_sidecar

LATIN1_FOLDER = os.fsdecode(b"caf\xe9")  # 'café' from a Windows-1252 zip or an old camera
NAMES = [
    os.fsdecode(b"\xff\xfe photo.jpg"),
    "Tom & Jerry <3.jpg",
    "line\nbreak.jpg",
    "tab\there.jpg",
]


def test_names_that_are_not_utf8_or_hold_markup_survive_every_command(library, tmp_path):
    for i, name in enumerate(NAMES):
        shoot(library / LATIN1_FOLDER / name, seed=i + 1, minutes=i)
    shoot(library / "plain" / "IMG_1.jpg", seed=9)
    (library / LATIN1_FOLDER / os.fsdecode(b"notes \xe9.txt")).write_bytes(b"kept\n")
    dest = tmp_path / "backup"

    first = run("backup", library, dest, "--box", BOX)
    assert first.returncode == 0, first.stderr
    second = run("backup", library, dest, "--box", BOX)
    assert second.returncode == 0, second.stderr
    assert "(0 encoded by this run)" in second.stdout
    report = json.loads((dest / "photorescue-report.json").read_text(encoding="utf-8"))
    assert {o["relative"] for o in report["outcomes"]} == {LATIN1_FOLDER, "plain"}

    record = read_sidecar(dest / LATIN1_FOLDER / (LATIN1_FOLDER + ".xml.gz"))
    assert record.folder == LATIN1_FOLDER
    assert {p.name for p in record.photos} == set(NAMES)

    listed = run("ls", dest, "--json")
    assert listed.returncode == 0, listed.stderr
    assert {row["folder"] for row in json.loads(listed.stdout)} == {LATIN1_FOLDER, "plain"}
    table = run("ls", dest)
    assert table.returncode == 0 and "Traceback" not in table.stderr

    run("verify", dest, "--against", library, check_code=0)
    browsed = run("browse", dest)
    assert browsed.returncode == 0, browsed.stderr
    page = (dest / LATIN1_FOLDER / (LATIN1_FOLDER + ".html")).read_text(encoding="utf-8")
    assert "caf%E9.mp4" in page  # the video's exact bytes, as a URL
    # The names reach the page only as JSON data (shown with textContent), never as markup.
    start = page.index('<script id="data" type="application/json">')
    end = page.index("</script>", start)
    data = json.loads(page[page.index(">", start) + 1 : end])
    assert {p["name"] for p in data["photos"]} == set(NAMES)
    assert "<3.jpg" not in page[:start] + page[end:]

    out = tmp_path / "restored"
    restored = run("restore", dest, out)
    assert restored.returncode == 0, restored.stderr
    got = {os.fsencode(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    want = {os.fsencode(f"{LATIN1_FOLDER}/{name}") for name in NAMES}
    want |= {b"caf\xe9/notes \xe9.txt", b"plain/IMG_1.jpg"}
    assert got == want
    assert (out / LATIN1_FOLDER / os.fsdecode(b"notes \xe9.txt")).read_bytes() == b"kept\n"
