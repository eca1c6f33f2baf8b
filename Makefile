# One command each: `make run` starts the app on the bundled offline models, `make test` runs
# the suite. Both create .venv and install into it (torch pinned to the CPU build).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# pytest-xdist processes; each test file stays in one, so its fixtures are built once.
TEST_WORKERS ?= 2
GENSIM_WHEEL := gensim==4.4.0
# Corpus v2 (training/make_corpus_v2.py): CORPUS_ARGS=--overwrite rebuilds it in place.
CORPUS_V2 ?= data/corpus-v2
CORPUS_ARGS ?=

.PHONY: run test lint format bench bench-quick bench-gpu bench-summarize bench-peers bench-speed \
	real-speech clean corpus-v2

$(VENV)/.app-installed: requirements.txt requirements-models.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -r requirements.txt
	$(VENV)/bin/pip install --no-deps -r requirements-models.txt
	touch $@

# The speech engines' Python side (piper) and the ABC news text, read from gensim's wheel (never
# installed); the Debian engines (espeak-ng, flite, festival, wordnet-base) are in .ci/run.
$(VENV)/.corpus-installed: $(VENV)/.app-installed requirements-corpus.txt requirements-corpus-models.txt
	$(VENV)/bin/pip install -r requirements-corpus.txt
	$(VENV)/bin/pip install --no-deps -r requirements-corpus-models.txt
	$(VENV)/bin/pip download --no-deps --dest $(VENV)/wheels $(GENSIM_WHEEL)
	touch $@

$(VENV)/.dev-installed: $(VENV)/.corpus-installed requirements-dev.txt
	$(VENV)/bin/pip install -r requirements-dev.txt
	touch $@

run: $(VENV)/.app-installed
	$(PY) app.py

test: $(VENV)/.dev-installed
	$(PY) -m pytest -m "not requires_cuda" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# ~3000 clips of news, WordNet and ACLSum sentences by 16 voices of 4 engines; the card goes to
# assets/corpora/v2.md (run as root once: the apt-get line of .ci/run).
corpus-v2: $(VENV)/.corpus-installed
	OMP_NUM_THREADS=1 $(PY) -m training.make_corpus_v2 --out $(CORPUS_V2) $(CORPUS_ARGS)
	mkdir -p assets/corpora && cp $(CORPUS_V2)/card.md assets/corpora/v2.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts

bench: $(VENV)/.dev-installed
	$(PY) -m bench.asr --overwrite $(BENCH_ARGS)
	$(PY) -m bench.memory --overwrite
	$(PY) -m bench.click --overwrite
	$(PY) -m results.report

bench-quick: $(VENV)/.dev-installed
	$(PY) -m bench.asr --quick --overwrite

# SmolLM2 per mode beside plain generate and extractive on ACLSum (BENCH_ARGS: e.g. --quick),
# then every summarizer, strategy, style and adapter on the spoken dev set (SPOKEN_ARGS)
bench-summarize: $(VENV)/.dev-installed
	$(PY) -m bench.summarize --overwrite $(BENCH_ARGS)
	test -f data/spoken-dev/manifest.jsonl || $(PY) -m training.corpora.spoken_dev --out data/spoken-dev
	$(PY) -m bench.spoken_dev --threads 1 --overwrite $(SPOKEN_ARGS)

# The CPU peers users pick, bench-only (never in requirements.txt): whisper.cpp (pywhispercpp's
# binary wheel) on our Whisper weights converted to ggml f16/q8_0/q5_0 (bench.ggml), and
# llama.cpp (llama-cpp-python, built from source with cmake: many CPU-minutes) on the bundled
# SmolLM2 GGUF. LLAMA_CMAKE_ARGS: a CPU build of the library alone.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF \
	-DGGML_BLAS=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
PEERS_ASR ?= fw-int8 wcpp-f16 wcpp-q8_0 wcpp-q5_0

$(VENV)/.peers-installed: $(VENV)/.dev-installed requirements-peers.txt
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(VENV)/bin/pip install --no-binary llama-cpp-python \
		-r requirements-peers.txt
	touch $@

bench-peers: $(VENV)/.peers-installed
	$(PY) -m bench.asr --peers $(PEERS_ASR) --name asr-peers --overwrite $(BENCH_ARGS)
	$(PY) -m bench.summarize --peers llama.cpp --modes int4 full --name summarize-peers --overwrite \
		$(SUMMARIZE_ARGS)
	$(PY) -m bench.llm_profile --overwrite

# The speed goals (issue 37; assets/benchmarks.md "Speed goals"): the default mode beside
# faster-whisper int8, its batched pipeline and whisper.cpp q8_0/q5_0 (f16 left out to save time,
# not measured slower here: PEERS_SPEED adds it back), every engine in its own process, on 11 s,
# 30 s, 5 and 10 minutes of speech, greedy and beam 5, at 1 and 2 threads; then the short clip and
# a 5-minute programme greedy beside a busy process (bench.coload). About 3.3 hours on a quiet
# 2-core EPYC (1 thread: 95 + 17 minutes; 2 threads: 64 + 24).
PEERS_SPEED ?= fw-int8 fw-batched8 wcpp-q8_0 wcpp-q5_0
SPEED_ARGS = --models tiny.en base --modes fast-int8 --long-modes fast-int8 --peers $(PEERS_SPEED) \
	--repeats 3 --no-rss --overwrite
bench-speed: $(VENV)/.peers-installed
	for t in 1 2; do \
		$(PY) -m bench.asr $(SPEED_ARGS) --threads $$t --clips jfk mit-en real-5min-a real-10min \
			--beams 1 5 --name asr-speed-t$$t || exit 1; \
		$(PY) -m bench.asr $(SPEED_ARGS) --threads $$t --clips jfk real-5min-a --beams 1 \
			--co-load --name asr-speed-t$$t-busy || exit 1; \
	done
	$(PY) -m results.report

# The real-speech evaluation set (data/real-speech): Debian asterisk-core-sounds-en* (installed,
# or fetched with apt-get download) and the call in the pyannote.audio wheel (pip download).
real-speech: $(VENV)/.app-installed
	$(PY) -m training.corpora.make_real_speech $(REAL_SPEECH_ARGS)

bench-gpu: $(VENV)/.dev-installed
	$(PY) -m bench.gpu --overwrite
