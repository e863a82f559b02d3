#!/bin/sh
# bitnami/kafka's ENTRYPOINT path (compose files call it explicitly, e.g.
# `entrypoint.sh run.sh` after a pre-step): runs its arguments unchanged.
exec "$@"
