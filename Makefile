# `make demo` backs up the built-in demo library; `make test` runs the tests.
# Both create .venv and install what they need, Pillow-SIMD included where it builds.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo
CORPUS ?= /tmp/photo-corpus
# Headers Pillow-SIMD needs to read every format we accept (JPEG, PNG, TIFF, WebP), and
# LittleCMS for colour management (ImageCms).
IMAGE_HEADERS := libjpeg-dev zlib1g-dev libtiff-dev libwebp-dev liblcms2-dev

.PHONY: demo test lint bench corpus clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench,cluster]'
	$(MAKE) --no-print-directory pillow-simd
	touch $(STAMP)

# Swap stock Pillow for Pillow-SIMD (about 6x faster resizing). It builds from source, so it
# needs a compiler and image headers; where it cannot build, or builds without a codec we
# read, stock Pillow stays. --no-deps keeps pillow-heif from pulling stock Pillow back in.
# On a CPU with AVX2 it is built for AVX2 (its default is SSE4): LANCZOS resizes take half.
.PHONY: pillow-simd
pillow-simd:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! dpkg -s $(IMAGE_HEADERS) >/dev/null 2>&1; then \
	  (apt-get update -qq && apt-get install -y -qq $(IMAGE_HEADERS)) >/dev/null 2>&1 || true; fi
	@$(BIN)/pip uninstall -q -y pillow pillow-simd 2>/dev/null || true
	@if CC="cc $$(grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo -mavx2)" \
	    $(BIN)/pip install -q --no-deps --no-cache-dir pillow-simd 2>/dev/null && \
	    $(BIN)/python -c "from PIL import features as f; assert all(f.check(c) for c in ('jpg', 'zlib', 'libtiff', 'webp', 'littlecms2'))" 2>/dev/null; \
	then echo "using Pillow-SIMD"; \
	else echo "Pillow-SIMD did not build with every codec; using stock Pillow"; \
	  $(BIN)/pip uninstall -q -y pillow-simd 2>/dev/null; $(BIN)/pip install -q --no-deps pillow; fi

demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/python -m photorescue_batch.demo $(DEMO)/library
	$(BIN)/photorescue backup $(DEMO)/library $(DEMO)/backup --config configs/demo.yaml; \
	  status=$$?; echo "backup of the demo library: $(DEMO)/backup (exit code $$status)"; \
	  $(BIN)/photorescue --version; exit $$status

# The browser test drives Debian's Chromium, the CMYK test needs a real CMYK profile
# (ghostscript's, in libgs-common), a test decodes our videos with Debian's ffmpeg, and one
# backs up to a real exFAT file system (exfatprogs, exfat-fuse); as root, install them if
# missing.
CMYK_PROFILE := /usr/share/color/icc/ghostscript/default_cmyk.icc
TEST_TOOLS := chromium chromium-driver libgs-common ffmpeg exfatprogs exfat-fuse libimage-exiftool-perl
test: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	    && { ! command -v chromedriver >/dev/null || ! command -v ffmpeg >/dev/null \
	         || ! command -v mount.exfat-fuse >/dev/null || ! command -v exiftool >/dev/null \
	         || [ ! -f $(CMYK_PROFILE) ]; }; then \
	  (apt-get update -qq && apt-get install -y -qq $(TEST_TOOLS)) >/dev/null 2>&1 \
	    || echo "could not install $(TEST_TOOLS): tests that need them are skipped"; fi
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

corpus:
	bash benchmarks/fetch_corpus.sh $(CORPUS)

# The reference recipe needs ImageMagick, ffmpeg and exiftool; cjxl is for the JPEG XL curve.
BENCH_TOOLS := imagemagick ffmpeg libimage-exiftool-perl libjxl-tools libgs-common
bench: $(STAMP) corpus
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! dpkg -s $(BENCH_TOOLS) >/dev/null 2>&1; then \
	  (apt-get update -qq && apt-get install -y -qq $(BENCH_TOOLS)) >/dev/null 2>&1 || true; fi
	$(BIN)/python benchmarks/compare.py $(CORPUS)
	$(BIN)/python benchmarks/throughput.py $(CORPUS)
	$(BIN)/python benchmarks/memory.py $(CORPUS)
	$(BIN)/python benchmarks/encoder_options.py $(CORPUS)
	$(BIN)/python benchmarks/stages.py $(CORPUS)
	$(BIN)/python benchmarks/scaling.py $(CORPUS)
	$(BIN)/python benchmarks/rerun.py $(CORPUS)
	$(BIN)/python benchmarks/colour.py $(CORPUS)
	$(BIN)/python benchmarks/verify_speed.py $(CORPUS)
	$(BIN)/python benchmarks/restore_one.py $(CORPUS)
	$(BIN)/python benchmarks/cluster.py $(CORPUS)
	$(BIN)/python benchmarks/index_cost.py $(CORPUS)
	$(BIN)/python benchmarks/trailer_scan.py $(CORPUS)

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .ruff_cache
