#!/usr/bin/env bash
# Fetch a corpus of real photographs for the benchmarks: synthetic pictures do not compress like
# photos. The photos come from Debian packages that ship them (wallpapers, a photo album's demo,
# OpenCV's sample photos), grouped in folders as a photo library would be.
# Usage: fetch_corpus.sh [OUT]   (default /tmp/photo-corpus). Needs apt-get and dpkg, as root.
set -euo pipefail
out=${1:-/tmp/photo-corpus}
cache=${CORPUS_CACHE:-/tmp/photo-corpus-debs}
if [ -f "$out/MANIFEST.tsv" ]; then echo "corpus already in $out"; exit 0; fi
mkdir -p "$out" "$cache/x"
cd "$cache"
for p in mate-backgrounds lomiri-wallpapers-16.04 kphotoalbum lxqt-themes opencv-doc; do
  ls "$p"_*.deb >/dev/null 2>&1 || apt-get download "$p" >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get download "$p" >/dev/null; }
  [ -d "x/$p" ] || dpkg -x "$p"_*.deb "x/$p"
done
copy() { local d="$out/$1"; shift; mkdir -p "$d"; for f in "$@"; do [ -f "$f" ] && cp -p "$f" "$d/"; done; }
copy mate   x/mate-backgrounds/usr/share/backgrounds/mate/nature/*.jpg
copy lomiri x/lomiri-wallpapers-16.04/usr/share/backgrounds/*_by_*.jpg
copy album  x/kphotoalbum/usr/share/kphotoalbum/demo/*.jpg
copy lxqt   x/lxqt-themes/usr/share/lxqt/wallpapers/*.jpg
data=x/opencv-doc/usr/share/doc/opencv-doc/examples/data
copy opencv $data/left0[1-9].jpg $data/left1[1-4].jpg $data/aloeL.jpg $data/aloeR.jpg \
  $data/baboon.jpg $data/building.jpg $data/fruits.jpg $data/home.jpg $data/messi5.jpg \
  $data/orange.jpg $data/squirrel_cls.jpg $data/leuvenA.jpg $data/leuvenB.jpg $data/apple.jpg \
  $data/butterfly.jpg
cd "$out"
{ printf 'file\tbytes\n'; find . -name '*.jpg' -type f | sort | while read -r f; do
    printf '%s\t%s\n' "${f#./}" "$(stat -c %s "$f")"; done; } > MANIFEST.tsv
echo "corpus: $(($(wc -l < MANIFEST.tsv) - 1)) photos in $out"
