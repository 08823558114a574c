#!/bin/sh
# Creates the lab's topics: the one-shot `topics` service of docker-compose.yml,
# run in the apache/kafka image once the broker is healthy.
#
#   TOPICS="name:partitions ..."   the topics (set in docker-compose.yml)
#   BOOTSTRAP=host:port             the broker
#
# Idempotent (--if-not-exists): `docker-compose up` may run it again.
set -eu
: "${TOPICS:?TOPICS is not set}" "${BOOTSTRAP:?BOOTSTRAP is not set}"
KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}
for spec in $TOPICS; do
    name=${spec%%:*}
    partitions=${spec#*:}
    "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
        --topic "$name" --partitions "$partitions" --replication-factor 1
done
"$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --list
