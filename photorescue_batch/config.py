"""The YAML policy: shipped defaults, the user's overlay, and the settings each folder gets."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from photorescue_batch.encode import CODECS, KEYFRAME_MODES, resolve_quality

SETTING_KEYS = ("box", "codec", "quality", "keyframes")
HANDLING_KEYS = ("videos", "other", "motion", "keep_raw", "keep_transparent_below")
KEYS = SETTING_KEYS + HANDLING_KEYS
MIN_BOX, MAX_BOX = 64, 8192
CHOICES = ("keep", "skip")


class ConfigError(Exception):
    """A config that cannot be used; the message names the file, line, key and reason."""


@dataclass(frozen=True)
class Settings:
    """What one folder is encoded with. The quality is the codec's own number (crf/qscale)."""

    box: int
    codec: str
    quality: int
    keyframes: str = "scene"  # scene (our cuts), intra (every frame) or encoder (its own GOP)


@dataclass(frozen=True)
class Handling:
    """What a folder's files that are not photos become, and which originals are kept whole.

    Sidecar files (.xmp, .aae, .json) are always kept: they are small and hold the edits.
    """

    videos: str = "keep"  # keep: byte for byte beside the backup; skip: listed as not backed up
    other: str = "keep"  # any other file: the same choice
    motion: str = "keep"  # a motion photo's clip (any bytes after a JPEG's image): the same
    keep_raw: bool = False  # also keep RAW originals byte for byte, beside their frames
    keep_transparent_below: int = 1_000_000  # keep photos with transparency under N bytes whole


@dataclass(frozen=True)
class Rule:
    match: str
    pattern: re.Pattern[str]
    overrides: dict[str, Any]


@dataclass(frozen=True)
class Policy:
    """Defaults plus ordered rules; later matching rules override earlier ones."""

    defaults: dict[str, Any]
    rules: tuple[Rule, ...]

    def settings_for(self, relative: str) -> Settings:
        """The settings for a folder, given its path relative to LIBRARY ('' for the top)."""
        values = dict(self.defaults)
        for rule in self.rules:
            if rule.pattern.fullmatch(relative):
                values.update(rule.overrides)
        return Settings(
            box=values["box"],
            codec=values["codec"],
            quality=resolve_quality(values["codec"], values["quality"]),
            keyframes=values["keyframes"],
        )

    def handling_for(self, relative: str) -> Handling:
        """How the folder's other files are treated (same rules, same precedence)."""
        values = dict(self.defaults)
        for rule in self.rules:
            if rule.pattern.fullmatch(relative):
                values.update(rule.overrides)
        return Handling(**{k: values[k] for k in HANDLING_KEYS if k in values})

    def with_overrides(self, **overrides: Any) -> Policy:
        """Command-line settings beat both the defaults and every rule."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        _check_settings(given, "command line", None, "")
        rules = tuple(
            replace(r, overrides={k: v for k, v in r.overrides.items() if k not in given})
            for r in self.rules
        )
        return Policy({**self.defaults, **given}, rules)


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a folder glob: `*` and `?` stay within one folder name, `**` spans folders.

    `Family/**` matches Family itself and everything below it; `**/Screenshots` matches a
    Screenshots folder at any depth, the top one included.
    """
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def load_policy(path: Path | None = None) -> Policy:
    """The shipped defaults, overlaid with the user's config file if one is given."""
    shipped = resources.files("photorescue_batch").joinpath("config_default.yaml")
    base = _parse(shipped.read_text(encoding="utf-8"), "config_default.yaml")
    defaults = dict(base["defaults"])
    rules: list[Rule] = []
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from error
        user = _parse(text, str(path))
        defaults.update(user.get("defaults") or {})
        rules = _rules(user.get("rules") or [])
    _check_settings(defaults, "defaults", None, "")
    for rule in rules:
        merged = {**defaults, **rule.overrides}
        _check_settings(merged, f"rule {rule.match!r}", None, "")
    return Policy(defaults, tuple(rules))


def _parse(text: str, name: str) -> dict[str, Any]:
    """Load and validate one config document, reporting problems with file and line."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise ConfigError(f"{where}: not valid YAML: {getattr(error, 'problem', error)}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}:1: the config must be a mapping with 'defaults' and 'rules'")
    lines = _Lines(root, name)
    for key in data:
        if key not in ("defaults", "rules"):
            raise ConfigError(f"{lines.at(key)}: unknown key {key!r} (expected defaults, rules)")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{lines.at('defaults')}: 'defaults' must be a mapping")
    _check_settings(defaults, "defaults", lines, "defaults")
    rules = data.get("rules") or []
    if not isinstance(rules, list):
        raise ConfigError(f"{lines.at('rules')}: 'rules' must be a list")
    for index, rule in enumerate(rules):
        where = f"rules.{index}"
        if not isinstance(rule, dict):
            raise ConfigError(f"{lines.at(where)}: {where} must be a mapping with 'match'")
        if not isinstance(rule.get("match"), str) or not rule["match"]:
            raise ConfigError(f"{lines.at(where)}: {where}.match: a folder glob is required")
        _check_settings(
            {k: v for k, v in rule.items() if k != "match"}, where, lines, where, allow=("match",)
        )
    return data


def _rules(raw: list[dict[str, Any]]) -> list[Rule]:
    return [
        Rule(
            match=r["match"],
            pattern=glob_to_regex(r["match"].strip("/")),
            overrides={k: v for k, v in r.items() if k != "match"},
        )
        for r in raw
    ]


def _check_settings(
    values: dict[str, Any],
    what: str,
    lines: _Lines | None,
    prefix: str,
    allow: tuple[str, ...] = (),
) -> None:
    def fail(key: str, reason: str) -> None:
        dotted = f"{prefix}.{key}" if prefix else key
        where = lines.at(dotted) if lines else what
        raise ConfigError(f"{where}: {dotted}: {reason}")

    for key in values:
        if key not in KEYS and key not in allow:
            fail(key, f"unknown key (expected one of {', '.join(KEYS)})")
    for key in ("videos", "other", "motion"):
        if key in values and values[key] not in CHOICES:
            fail(key, f"expected {' or '.join(CHOICES)}")
    if "keep_raw" in values and not isinstance(values["keep_raw"], bool):
        fail("keep_raw", "expected true or false")
    if "keep_transparent_below" in values:
        limit = values["keep_transparent_below"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            fail("keep_transparent_below", "expected a number of bytes (0 keeps none)")
    if "box" in values:
        box = values["box"]
        if isinstance(box, bool) or not isinstance(box, int) or not MIN_BOX <= box <= MAX_BOX:
            fail("box", f"must be a whole number of pixels from {MIN_BOX} to {MAX_BOX}")
        elif box % 2:
            fail("box", "must be even (video encoders need even frame sizes)")
    if "codec" in values and values["codec"] not in CODECS:
        fail("codec", f"unknown codec {values['codec']!r} (expected {', '.join(CODECS)})")
    if "keyframes" in values and values["keyframes"] not in KEYFRAME_MODES:
        fail("keyframes", f"expected one of {', '.join(KEYFRAME_MODES)}")
    if "quality" in values:
        codec = values.get("codec")
        quality = values["quality"]
        levels = sorted({level for p in CODECS.values() for level in p.levels})
        if isinstance(quality, str):
            if quality not in levels:
                fail("quality", f"unknown level {quality!r} (expected {', '.join(levels)})")
        elif isinstance(quality, bool) or not isinstance(quality, int):
            fail("quality", f"must be a level ({', '.join(levels)}) or a whole number")
        elif codec in CODECS:
            low, high = CODECS[codec].quality_range
            if not low <= quality <= high:
                fail("quality", f"{quality} is outside {codec}'s range {low}..{high}")


class _Lines:
    """Finds the line of a dotted key path in the composed YAML, for error messages."""

    def __init__(self, root: yaml.Node | None, name: str) -> None:
        self.root = root
        self.name = name

    def at(self, dotted: str) -> str:
        node = self.root
        for part in dotted.split("."):
            found = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == part:
                        found = key if part == dotted.split(".")[-1] else value
                        break
            elif isinstance(node, yaml.SequenceNode) and part.isdigit():
                items = node.value
                found = items[int(part)] if int(part) < len(items) else None
            if found is None:
                break
            node = found
        line = node.start_mark.line + 1 if node is not None else 1
        return f"{self.name}:{line}"
