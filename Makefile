# `make run` and `make test` work on a fresh machine: they create .venv and install what is needed.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-stamp

.PHONY: install run test bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of PyTorch, pinned: a looser pin pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) examples/demo.py

test: install
	$(PY) -m pytest

bench: install
	$(PY) bench/embed.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
