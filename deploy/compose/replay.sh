#!/bin/sh
# c2w-replay — loads NDJSON files into Kafka topics, one message per line.
#
#   c2w-replay TOPIC=FILE...
#
# The broker is $BOOTSTRAP (default kafka:9092). A FILE ending in .gz is
# decompressed first. Used by the lab's `replayer` service (docker-compose.yml),
# installed in the image built with `deploy/Dockerfile --target replayer`.
set -eu
BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
if [ $# -eq 0 ]; then
    echo "usage: c2w-replay TOPIC=FILE..." >&2
    exit 2
fi
for pair in "$@"; do
    case $pair in
        ?*=?*) ;;
        *) echo "c2w-replay: '$pair' is not TOPIC=FILE" >&2; exit 2 ;;
    esac
    topic=${pair%%=*}
    file=${pair#*=}
    if [ ! -r "$file" ]; then
        echo "c2w-replay: cannot read $file" >&2
        exit 1
    fi
    case $file in
        *.gz) gzip -dc -- "$file" | kcat -P -b "$BOOTSTRAP" -t "$topic" ;;
        *) kcat -P -b "$BOOTSTRAP" -t "$topic" -l "$file" ;;
    esac
    echo "c2w-replay: $file -> $topic ($(gzip -dcf -- "$file" | grep -c '') lines)"
done
