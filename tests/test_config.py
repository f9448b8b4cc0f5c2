"""The YAML policy: shipped defaults, overlays, rules, overrides and clear rejections."""

from __future__ import annotations

from pathlib import Path

import pytest

from photorescue_batch.config import ConfigError, glob_to_regex, load_policy
from photorescue_batch.encode import CODECS

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_shipped_defaults():
    s = load_policy().settings_for("any/folder")
    assert (s.box, s.codec, s.quality) == (2048, "av1", CODECS["av1"].levels["standard"])


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_example_config_loads(path):
    policy = load_policy(path)
    assert policy.settings_for("Family/2019").box >= 64


def test_later_rules_override_earlier_ones_and_named_levels_resolve(tmp_path):
    policy = load_policy(
        write(
            tmp_path,
            "defaults: {box: 2048}\nrules:\n"
            "  - {match: 'Family/**', box: 3072, quality: archive}\n"
            "  - {match: '**/Screenshots', box: 1280, codec: h264}\n",
        )
    )
    assert policy.settings_for("Family").box == 3072
    assert policy.settings_for("Family/2019/Trip").quality == CODECS["av1"].levels["archive"]
    shots = policy.settings_for("Family/Screenshots")
    assert (shots.box, shots.codec, shots.quality) == (
        1280,
        "h264",
        CODECS["h264"].levels["archive"],
    )
    assert policy.settings_for("Screenshots").box == 1280
    assert policy.settings_for("Other").box == 2048


def test_command_line_beats_rules(tmp_path):
    policy = load_policy(write(tmp_path, "rules:\n  - {match: '**', box: 1024}\n"))
    assert policy.with_overrides(box=512).settings_for("x").box == 512
    assert policy.with_overrides(box=None).settings_for("x").box == 1024


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("defaults:\n  box: 100000\n", 2, "box"),
        ("defaults:\n  box: 2047\n", 2, "even"),
        ("defaults:\n  codec: divx\n", 2, "divx"),
        ("defaults:\n  quality: superb\n", 2, "superb"),
        ("defaults:\n  codec: h264\n  quality: 70\n", 3, "range"),
        ("default:\n  box: 2048\n", 1, "unknown key 'default'"),
        ("rules:\n  - box: 10\n", 2, "match"),
        ("rules:\n  - match: 'a'\n    bx: 3\n", 3, "bx"),
        ("defaults: [1, 2\n", 2, "YAML"),
    ],
)
def test_bad_config_is_rejected_with_file_line_and_reason(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_policy(path)
    assert str(error.value).startswith(f"{path}:{line}")
    assert words in str(error.value)


def test_glob_semantics():
    assert glob_to_regex("Family/**").fullmatch("Family")
    assert glob_to_regex("Family/**").fullmatch("Family/a/b")
    assert not glob_to_regex("Family/**").fullmatch("Familyx")
    assert glob_to_regex("**/Screenshots").fullmatch("Screenshots")
    assert glob_to_regex("**/Screenshots").fullmatch("a/b/Screenshots")
    assert not glob_to_regex("*/x").fullmatch("a/b/x")
    assert glob_to_regex("20??/*").fullmatch("2019/Summer")
