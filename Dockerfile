# The Sleuth service image: CUDA runtime, vLLM (the LLM on GPU workers), faiss-gpu and Sleuth.
# One image runs every role of docker-compose.yml: `sleuth serve`, `sleuth worker --queues gpu|cpu`.
# Without a GPU the same image still runs (FAISS and the embedder fall back to the CPU).
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    VIRTUAL_ENV=/opt/sleuth \
    PATH=/opt/sleuth/bin:$PATH

# Python 3.12 from Ubuntu; a compiler and cmake because llama-cpp-python (the CPU LLM backend) builds from source.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential cmake git curl \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/sleuth

# vLLM pins its own CUDA build of torch; install it first so Sleuth's torch requirement is already met.
RUN pip install vllm==0.33.0 faiss-gpu-cu12==1.14.1.post1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY retrieval ./retrieval
COPY kg ./kg
COPY reasoning ./reasoning
COPY evaluation ./evaluation
COPY workers ./workers
COPY api ./api
# Sleuth's declared faiss-cpu is swapped for faiss-gpu (both provide the `faiss` module). llama.cpp's CPU code is
# built once per instruction-set level and the best one the running CPU has is loaded at run time
# (reasoning/llm/cpu_variants.py): the image runs on CPUs other than the build host's (the Makefile's LLAMA_CMAKE_ARGS).
RUN CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON" pip install . \
    && pip uninstall -y faiss-cpu \
    && pip install --force-reinstall --no-deps faiss-gpu-cu12==1.14.1.post1

RUN useradd --create-home --uid 10001 sleuth \
    && mkdir -p /srv/sleuth/indexes /srv/sleuth/data /home/sleuth/.cache \
    && chown -R sleuth:sleuth /srv/sleuth /home/sleuth/.cache
USER 10001
ENV SLEUTH_INDEX_ROOT=/srv/sleuth/indexes \
    SLEUTH_DATA_ROOT=/srv/sleuth/data

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s CMD ["curl", "-fsS", "http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["sleuth"]
CMD ["serve", "--host", "0.0.0.0"]
