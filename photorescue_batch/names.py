"""Names as file systems hold them: any bytes but `/` and NUL, not only UTF-8.

Python keeps a name's bytes that are not UTF-8 as lone surrogates (`caf\udce9` for the Latin-1
`café`), and gives the exact bytes back to every os call. Wherever a name leaves Python as text
(JSON, a web page, a URL) it must keep them too, or the name is lost or the writer crashes.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import quote

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def to_json(data: Any, indent: int | None = None) -> str:
    """JSON that keeps every name: readable UTF-8, with a byte that is not UTF-8 written as
    its `\\udcXX` escape, which Python's json reads back to the same name."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def url(path: str) -> str:
    """A relative path as a URL, percent-encoding its exact bytes."""
    return quote(os.fsencode(path))


def shown(name: str) -> str:
    """A name as people read it: a byte that is not UTF-8 shows as �."""
    return _LONE_SURROGATE.sub("\ufffd", name)
