# layerspec: set-up, tests and the main job.
#   make install   virtual environment in .venv, Python and Debian packages (idempotent; also compiles the bytecode)
#   make data      link the SIGNS dataset into data/signs
#   make data-arrays  write the small synthetic array datasets into data/arrays (text, regression)
#   make test      lint, type-check and run the test suite
#   make demo      the main job on specs/signs.yaml
#   make docs      regenerate the generated reference pages docs/spec.md and docs/run-folder.md
#   make lock      rewrite constraints.txt from the installed packages (a deliberate update)

PYTHON   ?= python3.11
VENV     ?= .venv
BIN      := $(VENV)/bin
SIGNS_SRC ?= ../shared/data/signs
APT_PACKAGES := graphviz chromium fonts-dejavu-core
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install bytecode system-deps data data-arrays docs test lint typecheck pytest pytest-other-kernels demo fuzz bench lock clean

install: $(VENV)/.installed system-deps bytecode

# The package's bytecode compiled once, as pip does for an installed package (this one is installed editable, so pip
# leaves it out): a process started with PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module again at
# each start (a tenth of a second or more for `layerspec check`). Python still reads these files under that setting,
# and ignores one whose source has changed since (it compares the source's modification time), so an edit is safe.
bytecode: $(VENV)/.installed
	$(BIN)/python -m compileall -q layerspec

# constraints.txt pins every package exactly, so the derandomised property tests generate the same cases everywhere.
$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (layerspec needs Python 3.11+)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

lock: $(VENV)/.installed
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^layerspec'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# Debian packages: Graphviz's `dot` for diagrams, Chromium for the browser tests.
system-deps:
	@missing=""; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

data: data/signs/train_signs.h5

data/signs/train_signs.h5:
	@if [ -f data/signs/train_signs.h5 ]; then exit 0; fi; \
	if [ ! -f "$(SIGNS_SRC)/train_signs.h5" ]; then \
	  echo "error: SIGNS dataset not found in $(SIGNS_SRC); put it in data/signs/ or run 'make data SIGNS_SRC=/path/to/signs'"; exit 3; fi; \
	mkdir -p data; rm -rf data/signs; ln -s "$$(cd "$(SIGNS_SRC)" && pwd)" data/signs; echo "linked data/signs -> $(SIGNS_SRC)"

# Small array datasets made here (no download): token sequences for text classifiers, and a regression set.
data-arrays: install
	$(BIN)/python -m layerspec.synthetic text data/arrays
	$(BIN)/python -m layerspec.synthetic regression data/arrays

lint: install
	$(BIN)/ruff check layerspec tests
	$(BIN)/ruff format --check layerspec tests

typecheck: install
	$(BIN)/mypy

pytest: install data
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Which TensorFlow kernels run depends on the CPU: oneDNN's are on by default only on CPUs with AVX-512 neural
# network units. The checker's promise (what check accepts runs) is tested again with them off, as on AVX2-only CPUs
# (or on, when the main run had TF_ENABLE_ONEDNN_OPTS=0).
KERNEL_TESTS := tests/fuzz/test_differential.py tests/fuzz/test_regressions.py tests/test_contract_layers.py
pytest-other-kernels: install data
	TF_ENABLE_ONEDNN_OPTS=$(if $(filter 0,$(TF_ENABLE_ONEDNN_OPTS)),1,0) $(BIN)/python -m pytest -q -p no:cacheprovider $(KERNEL_TESTS)

test: lint typecheck pytest pytest-other-kernels

docs: install
	$(BIN)/python -m layerspec.docs

demo: install data
	$(BIN)/layerspec check specs/signs.yaml
	$(BIN)/layerspec build specs/signs.yaml
	$(BIN)/layerspec train
	$(BIN)/layerspec evaluate
	$(BIN)/layerspec report

fuzz: install data
	LAYERSPEC_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz
	$(BIN)/python tests/bench/fuzz_report.py

bench: install data
	$(BIN)/python tests/bench/bench_check.py
	$(BIN)/python tests/bench/bench_train_speed.py
	$(BIN)/python tests/bench/bench_train_accuracy.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
