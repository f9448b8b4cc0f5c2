"""`photorescue browse`: offline web pages (and subtitles) to look through a backup.

Everything is written from the sidecars, which stay the one source of truth: a page embeds the
records as JSON, and nothing is fetched from the internet.
"""

from __future__ import annotations

import html
import os
import shlex
from collections.abc import Callable
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from photorescue_batch.catalog import BackedUpFolder, load_folders
from photorescue_batch.names import shown, to_json, url
from photorescue_batch.sidecar import Entry, PhotoRecord, Segment, image_label

INDEX = "index.html"


def write_pages(dest: Path, on_error: Callable[[str], None]) -> Path:
    """Write DEST/index.html, a page per folder, and a subtitle file beside every video."""
    folders = [f for f in load_folders(dest, on_error) if f.record.segments]
    rows = []
    for folder in folders:
        for segment in folder.record.segments:
            photos = [p for p in _frames(folder) if p.segment == segment.id]
            _write(folder.layout.subtitles(segment.video), subtitles(photos, segment))
        _write(folder.layout.page, folder_page(folder, dest))
        rows.append(folder_summary(folder, url(folder.layout.page.relative_to(dest).as_posix())))
    index = dest / INDEX
    _write(index, _page("photorescue backup", _INDEX_BODY, {"folders": rows}))
    return index


def photo_view(photo: PhotoRecord, video: str, note: str | None) -> dict[str, object]:
    """What the pages show of a photo: straight from its sidecar record."""
    return {
        "name": image_label(photo.name, photo.image),
        "video": url(video),
        "time": photo.time,
        "captured": photo.captured,
        "bytes": photo.bytes,
        "width": photo.width,
        "height": photo.height,
        "note": note,
    }


def _frames(folder: BackedUpFolder) -> list[PhotoRecord]:
    """Every frame of the folder's backup, segment after segment, as the videos play them."""
    return sorted(folder.record.photos, key=lambda p: (p.segment, p.index))


def _note(newest: dict[str, tuple[Entry, ...]], photo: PhotoRecord) -> str | None:
    if all(e is not photo for e in newest[photo.name]):
        return "older version" + (f", backed up {photo.added[:10]}" if photo.added else "")
    return f"removed from the library {photo.removed[:10]}" if photo.removed else None


def folder_summary(folder: BackedUpFolder, page: str) -> dict[str, object]:
    dates = sorted(p.captured for p in folder.record.photos if p.captured)
    names = sorted({p.name for p in folder.record.photos})
    backup = folder.backup_bytes
    return {
        "folder": folder.record.folder or ".",
        "page": page,
        "photos": len(names),
        "first": dates[0] if dates else None,
        "last": dates[-1] if dates else None,
        "ratio": round(folder.original_bytes / backup, 1) if backup else None,
        "names": names,
    }


def folder_page(folder: BackedUpFolder, dest: Path) -> str:
    record = folder.record
    prefix = f"{record.folder}/" if record.folder else ""
    videos = {s.id: s.video for s in record.segments}
    newest = record.newest()
    data = {
        "folder": record.folder or ".",
        "subtitles": {url(v): url(folder.layout.subtitles(v).name) for v in videos.values()},
        "index": url(os.path.relpath(dest / INDEX, folder.layout.directory)),
        "restore": f"photorescue restore {shlex.quote(str(dest.resolve()))} OUT",
        "photos": [
            photo_view(p, videos[p.segment], _note(newest, p)) | {"path": prefix + p.name}
            for p in _frames(folder)
        ],
    }
    return _page(f"{record.folder or '.'} — photorescue", _FOLDER_BODY, data)


def subtitles(photos: list[PhotoRecord], segment: Segment) -> str:
    """An .srt that names the photo on screen in one segment's video, for VLC and others."""
    cues = []
    for n, photo in enumerate(photos, start=1):
        start, end = photo.time, photo.time + float(1 / segment.fps)
        text = photo.name + (f"\n{photo.captured.replace('T', ' ')}" if photo.captured else "")
        cues.append(f"{n}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n")
    return "\n".join(cues)


def serve(dest: Path, port: int) -> ThreadingHTTPServer:
    """An HTTP server for DEST on 127.0.0.1 only, with the byte ranges video seeking needs."""
    handler = lambda *a, **kw: _RangeHandler(*a, directory=str(dest), **kw)  # noqa: E731
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


class _RangeHandler(SimpleHTTPRequestHandler):
    """Python's file server plus `Range: bytes=a-b`, without which browsers cannot seek."""

    def send_head(self):  # type: ignore[override]
        spec = self.headers.get("Range", "")
        path = Path(self.translate_path(self.path))
        if not spec.startswith("bytes=") or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        first, _, last = spec.removeprefix("bytes=").partition("-")
        try:
            start = int(first) if first else size - int(last)
            end = int(last) if first and last else size - 1
        except ValueError:
            return super().send_head()
        if not 0 <= start <= end < size:
            self.send_error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            return None
        f = open(path, "rb")  # noqa: SIM115 (copyfile below reads and closes it)
        f.seek(start)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._remaining = end - start + 1
        return f

    def copyfile(self, source, outputfile) -> None:  # type: ignore[override]
        remaining = getattr(self, "_remaining", None)
        if remaining is None:
            return super().copyfile(source, outputfile)
        while remaining > 0 and (block := source.read(min(remaining, 1 << 16))):
            outputfile.write(block)
            remaining -= len(block)
        self._remaining = None

    def log_message(self, format: str, *args) -> None:  # a quiet server
        pass


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8", errors="surrogateescape")  # .srt: names' bytes
    os.replace(partial, path)


def _page(title: str, body: str, data: dict[str, object]) -> str:
    payload = to_json(data).replace("</", "<\\/")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(shown(title))}</title><style>{_STYLE}</style></head>"
        f'<body>{body}<script id="data" type="application/json">{payload}</script>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;background:#111;color:#ddd}
a{color:#8cf}table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left}
tr:hover{background:#222}input{font-size:1em;padding:.3em;width:24em;margin:.5em 0}
#layout{display:flex;gap:1.5em;align-items:flex-start}video{max-width:60vw;max-height:62vh;background:#000}
#list{max-height:80vh;overflow:auto}#list li{cursor:pointer;padding:.15em .4em;list-style:none}
#list li.current{background:#345}#caption{font-size:1.1em;margin:.5em 0}code{color:#fc8}
"""

_INDEX_BODY = """
<h1>photorescue backup</h1>
<input id="search" type="search" placeholder="Search folders and photo names">
<table><thead><tr><th>folder</th><th>photos</th><th>dates</th><th>ratio</th></tr></thead>
<tbody id="folders"></tbody></table>
"""

_FOLDER_BODY = """
<p><a id="back">← all folders</a></p><h1 id="title"></h1>
<div id="layout"><div><video id="video" controls preload="auto"></video>
<div id="caption"></div><p>Restore the photo on screen:<br><code id="restore"></code></p></div>
<ol id="list"></ol></div>
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('data').textContent);
const el = id => document.getElementById(id);
const day = t => t ? t.replace('T', ' ') : '';
const size = b => b > 1e6 ? (b / 1e6).toFixed(1) + ' MB' : (b / 1e3).toFixed(0) + ' KB';
if (data.folders) {
  const body = el('folders');
  const draw = q => {
    body.replaceChildren();
    for (const f of data.folders) {
      const hits = q ? f.names.filter(n => n.toLowerCase().includes(q)) : [];
      if (q && !f.folder.toLowerCase().includes(q) && !hits.length) continue;
      const row = body.insertRow();
      const a = document.createElement('a');
      a.href = f.page; a.textContent = f.folder;
      row.insertCell().append(a);
      if (hits.length) row.cells[0].append(' — ' + hits.slice(0, 5).join(', '));
      row.insertCell().textContent = f.photos;
      row.insertCell().textContent = f.first ? day(f.first) + ' … ' + day(f.last) : '';
      row.insertCell().textContent = f.ratio ? f.ratio + ':1' : '';
    }
  };
  el('search').addEventListener('input', e => draw(e.target.value.trim().toLowerCase()));
  draw('');
} else {
  const video = el('video'), list = el('list'), photos = data.photos;
  document.title = data.folder + ' — photorescue';
  el('title').textContent = data.folder;
  el('back').href = data.index;
  let current = 0;
  const load = src => {
    if (video.dataset.src === src) return;
    video.dataset.src = src;
    video.src = src;
    video.querySelectorAll('track').forEach(t => t.remove());
    const track = document.createElement('track');
    track.kind = 'subtitles'; track.src = data.subtitles[src]; track.label = 'photo';
    video.append(track);
  };
  photos.forEach((p, i) => {
    const li = document.createElement('li');
    const note = p.note ? '  (' + p.note + ')' : '';
    li.textContent = p.name + '  ' + day(p.captured) + '  ' + size(p.bytes) + note;
    li.onclick = () => show(i);
    list.append(li);
  });
  const last = photos.length - 1;
  const playing = () => {
    const t = Math.floor(video.currentTime + 1e-6);
    const i = photos.findIndex(
      p => p.video === video.dataset.src && Math.floor(p.time + 1e-6) === t);
    return i < 0 ? current : i;
  };
  const quote = s => "'" + s.replace(/'/g, "'\\\\''") + "'";
  const caption = shown => {
    const i = current = shown ?? playing(), p = photos[i];
    const note = p.note ? ' (' + p.note + ')' : '';
    el('caption').textContent = p.name + (p.captured ? ' — ' + day(p.captured) : '') + note;
    el('restore').textContent = data.restore + ' ' + quote(p.path);
    [...list.children].forEach((li, j) => li.classList.toggle('current', j === i));
  };
  const show = i => {
    current = i;
    video.pause();
    const p = photos[i];
    if (video.dataset.src !== p.video) {
      load(p.video);
      video.addEventListener('loadedmetadata', () => { video.currentTime = p.time; },
                             {once: true});
    } else {
      video.currentTime = p.time;
    }
    caption(i);
  };
  video.addEventListener('timeupdate', () => caption());
  video.addEventListener('seeked', () => caption());
  document.addEventListener('keydown', e => {
    if (e.key === 'ArrowRight') { show(Math.min(last, current + 1)); e.preventDefault(); }
    if (e.key === 'ArrowLeft') { show(Math.max(0, current - 1)); e.preventDefault(); }
  });
  load(photos[0].video);
  caption(0);
}
"""
