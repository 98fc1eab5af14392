# kbench: every target sets up .venv by itself on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kbench-installed

.PHONY: demo test bench lint clean setup gpu-check

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools<81" wheel
	$(BIN)/pip install --quiet numpy cython
	$(BIN)/pip install --quiet -e '.[test]'
	# xtcocotools' wheel breaks under numpy 2 ("numpy.dtype size changed"): build it from source.
	$(BIN)/pip install --quiet --no-binary xtcocotools --no-build-isolation xtcocotools
	# PaddleDetection's own post-processing is the reference of the OKS-NMS parity test; its package
	# imports paddle, so the test loads the one numpy module it needs from the installed files.
	$(BIN)/pip install --quiet --no-deps paddledet==2.6.0
	# Paddle Lite has wheels up to Python 3.10 only: kbench runs it in a worker environment of its own
	# (~/.cache/kbench/lite-env-py310, or $$KBENCH_LITE_ENV), built from a Python 3.10 (pyenv, $$KBENCH_PY310).
	$(BIN)/python -c "from kbench.lite.env import ensure_lite_env; ensure_lite_env()"
	# The report and leaderboard tests drive a real headless browser: Debian's chromium (skipped, with the
	# reason, where it cannot be installed).
	command -v chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q chromium chromium-driver) \
	  >/dev/null 2>&1 || echo "chromium not installed: the browser tests will be skipped"
	touch $(STAMP)

## Main job on a built-in default: PP-TinyPose on every CPU runtime here, one table (status, artifact size,
## difference from Paddle dygraph, latency, accuracy on a generated sample, params/FLOPs against the README).
demo: $(STAMP)
	$(BIN)/kbench benchmark --model tinypose_128x96

## The whole test suite (benchmarks included, as pytest-benchmark tests).
test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	# Not --benchmark-only: that skips the tests that assert the ratios against the peers measured in the same run.
	$(BIN)/python -m pytest tests/benchmarks

## Every GPU path on this machine's NVIDIA GPU: checks for one first (one line and exit 3 in seconds when there is
## none, before installing anything), then sets up .venv-gpu, runs the tests marked gpu and the server table.
gpu-check:
	@bash scripts/gpu_check.sh

lint: $(STAMP)
	$(BIN)/ruff check kbench tests

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks kbench-runs *.egg-info
