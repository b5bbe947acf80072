# Two commands matter: `make demo` (set up, ingest the real fashion catalogue with
# the shipped image model, run example searches, serve the web app) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export SHOPSEARCH_DATA ?= $(abspath ../shared/data/fashion)
DEMO_INDEX ?= var/demo-index
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup system-deps demo demo-ingest test bench clean

setup: $(VENV)/.installed

# Debian packages the tests use: a real browser for the UI tests, espeak-ng, sox and
# ffmpeg to make spoken and video queries, WordNet for query understanding (ingest maps
# shoppers' words onto the catalogue with it). Installed once, only when missing.
system-deps:
	@missing=""; \
	for c in chromium chromedriver espeak-ng ffmpeg sox; do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	[ -f /usr/share/wordnet/data.noun ] || missing="$$missing wordnet"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver espeak-ng ffmpeg sox wordnet >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU wheel of torch on this machine's disk; any other spec downloads gigabytes.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[train,test]'
	$(BIN)/shopsearch setup
	touch $@

demo-ingest: setup system-deps
	$(BIN)/shopsearch ingest $(SHOPSEARCH_DATA)/catalogue_hr.csv --images $(SHOPSEARCH_DATA) --index $(DEMO_INDEX)

demo: demo-ingest
	$(BIN)/shopsearch search "red running shoes for men" --index $(DEMO_INDEX) -k 5
	$(BIN)/shopsearch search "女士黑色手提包" --index $(DEMO_INDEX) -k 5
	$(BIN)/shopsearch search --image $(SHOPSEARCH_DATA)/images_224sq/15970.jpg --index $(DEMO_INDEX) -k 5
	$(BIN)/shopsearch search "red" --image $(SHOPSEARCH_DATA)/images_224sq/15970.jpg --index $(DEMO_INDEX) -k 5
	@echo "Serving the web app at http://$(HOST):$(PORT)/ (API docs at /docs); Ctrl-C to stop."
	$(BIN)/shopsearch serve --index $(DEMO_INDEX) --host $(HOST) --port $(PORT)

test: setup system-deps
	$(BIN)/python -m pytest -q

clean:
	rm -rf var .pytest_cache
