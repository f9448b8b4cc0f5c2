"""The walker: which folders become jobs, and what each job holds."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import shoot
from photorescue_batch.config import load_policy
from photorescue_batch.walk import (
    OTHER,
    PHOTO,
    RAW,
    SIDECAR,
    VIDEO,
    WalkReport,
    file_kind,
    walk_library,
)


def jobs(library: Path, dest: Path) -> dict[str, list[str]]:
    return {
        j.relative: [f.name for f in j.files] for j in walk_library(library, dest, load_policy())
    }


def test_every_folder_with_a_file_is_one_job_holding_every_file(library, tmp_path):
    for name in ("a.JPG", "b.jpeg", "c.Png", "d.TIFF", "e.webp", "f.HEIC", "g.heif", "h.tif"):
        (library / "A").mkdir(exist_ok=True)
        (library / "A" / name).write_bytes(b"x")
    (library / "A" / "notes.txt").write_text("not a photo")
    (library / "A" / "clip.mov").write_bytes(b"x")
    (library / "Empty").mkdir()
    (library / "Docs").mkdir()
    (library / "Docs" / "readme.md").write_text("x")
    (library / "top.jpg").write_bytes(b"x")

    found = jobs(library, tmp_path / "dest")

    assert set(found) == {"", "A", "Docs"}
    assert found["Docs"] == ["readme.md"]
    assert found["A"] == [
        "a.JPG",
        "b.jpeg",
        "c.Png",
        "clip.mov",
        "d.TIFF",
        "e.webp",
        "f.HEIC",
        "g.heif",
        "h.tif",
        "notes.txt",
    ]
    assert found[""] == ["top.jpg"]


def test_hidden_folders_hidden_files_and_dest_inside_the_library_are_skipped(library):
    shoot(library / "Keep" / "a.jpg")
    shoot(library / ".thumbnails" / "b.jpg")
    shoot(library / "Keep" / "._a.jpg")  # macOS AppleDouble junk
    dest = library / "backup"
    shoot(dest / "Keep" / "looks-like-a-photo.jpg")

    assert jobs(library, dest) == {"Keep": ["a.jpg"]}
    [keep] = walk_library(library, dest, load_policy())
    assert keep.hidden == ("._a.jpg",), "hidden entries are named, to be counted"
    report = WalkReport()
    list(walk_library(library, dest, load_policy(), report))
    assert report.hidden == 1, "the hidden folder at the top, which holds nothing else"


def test_a_symlink_loop_does_not_hang_the_walk(library, tmp_path):
    shoot(library / "A" / "a.jpg")
    os.symlink(library, library / "A" / "loop")
    os.symlink(library / "A", library / "A" / "self")

    found = jobs(library, tmp_path / "dest")

    assert found == {"A": ["a.jpg"]}


def test_a_symlinked_folder_outside_the_library_is_followed(library, tmp_path):
    shoot(tmp_path / "elsewhere" / "x.jpg")
    os.symlink(tmp_path / "elsewhere", library / "Linked")
    assert jobs(library, tmp_path / "dest") == {"Linked": ["x.jpg"]}


def test_fingerprint_changes_with_photos_and_settings_only(library, tmp_path):
    shoot(library / "A" / "a.jpg")
    policy = load_policy()
    [before] = walk_library(library, tmp_path, policy)
    [again] = walk_library(library, tmp_path, policy)
    assert before.fingerprint == again.fingerprint
    shoot(library / "A" / "b.jpg", seed=2)
    [added] = walk_library(library, tmp_path, policy)
    assert added.fingerprint != before.fingerprint
    [boxed] = walk_library(library, tmp_path, policy.with_overrides(box=1024))
    assert boxed.fingerprint != added.fingerprint


def test_every_file_has_a_kind_by_its_extension_in_any_case():
    kinds = {
        PHOTO: ["IMG_1.JPG", "x.heic", "y.Tiff", "stereo.MPO", "anim.gif"],
        RAW: ["raw.CR2", "b.dng", "c.NEF", "d.arw", "e.RAF"],
        VIDEO: ["live.MOV", "clip.mp4", "old.AVI", "cam.MTS"],
        SIDECAR: ["IMG_1.xmp", "IMG_1.AAE", "takeout.json"],
        OTHER: ["notes.txt", "a.jpg.txt", "README"],
    }
    for kind, names in kinds.items():
        for name in names:
            assert file_kind(name) == kind, name
