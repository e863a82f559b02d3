#!/bin/sh
# bitnami/kafka's CMD path: starts the broker from the environment
# (KAFKA_CFG_* as bitnami maps them, KAFKA_* as apache/kafka does,
# KAFKA_CLUSTER_ID / KAFKA_KRAFT_CLUSTER_ID), with bitnami's data directory
# unless the environment names one.
if [ -z "${KAFKA_CFG_LOG_DIRS:-}" ] && [ -z "${KAFKA_LOG_DIRS:-}" ]; then
    export KAFKA_CFG_LOG_DIRS=/bitnami/kafka/data
fi
exec gregor --kafka-env
