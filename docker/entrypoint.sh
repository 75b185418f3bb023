#!/bin/sh
# The image's entry point: "index if needed, then serve". Also usable outside Docker (the tests run it).
#
#   entrypoint.sh serve        build $CLIR_INDEX from $CLIR_CORPUS when missing or stale, then serve it
#   entrypoint.sh index        only the "index if needed" step (the compose `indexer` job)
#   entrypoint.sh eval ARGS    clir eval --server $CLIR_SERVER_URL ARGS (the compose `eval` profile)
#   entrypoint.sh CMD ...      run any other command (clir ..., sh)
set -eu

# Every value from the one settings object (CLIR_* over its defaults: `clir settings`); the image sets
# CLIR_INDEX=/index/current and CLIR_CORPUS=/opt/clir/sample.
settings=$(clir settings --shell)
eval "$settings"

index_if_needed() {
    if [ "$CLIR_BACKEND" = "qdrant" ] && { [ -z "$CLIR_CORPUS" ] || [ ! -e "$CLIR_CORPUS" ]; }; then
        echo "no corpus at ${CLIR_CORPUS:-(none)}: serving the existing collection $CLIR_COLLECTION"
    elif [ -n "$CLIR_CORPUS" ] && [ -e "$CLIR_CORPUS" ]; then
        # Skips the build when the index was made from this corpus with these settings (with
        # CLIR_BACKEND=qdrant: the collection CLIR_COLLECTION at CLIR_QDRANT_URL, and --out is unused).
        clir index --corpus "$CLIR_CORPUS" --format "$CLIR_CORPUS_FORMAT" --out "$CLIR_INDEX" \
            --encoder "$CLIR_ENCODER" --faiss "$CLIR_FAISS" --batch-size "$CLIR_BATCH_SIZE" \
            --skip-if-unchanged --quiet
    elif [ ! -f "$CLIR_INDEX/manifest.json" ]; then
        echo "clir: error: no index at $CLIR_INDEX and no corpus at ${CLIR_CORPUS:-(CLIR_CORPUS unset)} to build one from" >&2
        exit 2
    else
        echo "no corpus at ${CLIR_CORPUS:-(none)}: serving the existing index $CLIR_INDEX"
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
