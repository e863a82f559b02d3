#!/bin/sh
# apache/kafka's base image (eclipse-temurin) has this ENTRYPOINT; it imports
# CA certificates for the JVM, then runs its arguments. gregor has no JVM
# trust store, so it only runs them, unchanged.
if [ -n "${USE_SYSTEM_CA_CERTS:-}" ]; then
    echo "USE_SYSTEM_CA_CERTS has no effect in gregor (no JVM trust store)" >&2
fi
exec "$@"
