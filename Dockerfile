# CPU image of the Sleuth command line. The GPU image (CUDA base, vLLM, faiss-gpu) and docker-compose
# come with the service.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
WORKDIR /app

RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY retrieval ./retrieval
COPY kg ./kg
COPY reasoning ./reasoning
COPY evaluation ./evaluation
COPY workers ./workers
COPY api ./api
RUN pip install .

ENTRYPOINT ["sleuth"]
CMD ["--help"]
