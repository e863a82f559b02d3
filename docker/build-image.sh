#!/usr/bin/env bash
# Builds the gregor image from a static binary made on this host, for Docker
# engines that cannot pull a Rust image (Dockerfile.prebuilt, FROM scratch).
#
#   docker/build-image.sh                       # build the binary, tag gregor:latest
#   docker/build-image.sh --binary PATH --tag gregor:test
#
# The binary must be statically linked (the image has no libc); without
# --binary it is built with
#   RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu
#
# A static busybox (Debian's busybox-static, fetched with apt-get download
# and cached in docker/.cache) supplies /bin/sh and /bin/bash, because compose
# files written for apache/kafka use shell-form healthchecks and
# `bash -c "..."` commands. Without apt the image is built without a shell
# (exec-form commands and the built-in tools still work) and a warning says so.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TARGET=x86_64-unknown-linux-gnu
BINARY=""
TAG="gregor:latest"
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) BINARY="$2"; shift 2 ;;
        --tag) TAG="$2"; shift 2 ;;
        *) echo "usage: $0 [--binary PATH] [--tag TAG]" >&2; exit 2 ;;
    esac
done

if [ -z "$BINARY" ]; then
    (cd "$ROOT" && CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --target "$TARGET")
    BINARY="${CARGO_TARGET_DIR:-$ROOT/target}/$TARGET/release/gregor"
fi
if ! [ -x "$BINARY" ]; then
    echo "no gregor binary at $BINARY" >&2
    exit 1
fi
if readelf -l "$BINARY" 2>/dev/null | grep -q "Requesting program interpreter"; then
    echo "$BINARY is dynamically linked; the FROM scratch image needs a static build (see above)" >&2
    exit 1
fi

CTX="$(mktemp -d)"
trap 'rm -rf "$CTX"' EXIT
cp -a "$HERE/rootfs" "$CTX/rootfs"
mkdir -p "$CTX/rootfs/bin"
strip -o "$CTX/gregor" "$BINARY" 2>/dev/null || cp "$BINARY" "$CTX/gregor"

CACHE="$HERE/.cache"
BUSYBOX="$CACHE/busybox"
if [ ! -x "$BUSYBOX" ] && command -v apt-get >/dev/null 2>&1; then
    mkdir -p "$CACHE"
    DL="$(mktemp -d)"
    chmod 777 "$DL"
    if (cd "$DL" && timeout 120 apt-get download -q busybox-static >/dev/null 2>&1) \
        || { [ "$(id -u)" = "0" ] && timeout 300 apt-get update -q >/dev/null 2>&1 \
             && (cd "$DL" && timeout 120 apt-get download -q busybox-static >/dev/null 2>&1); }; then
        dpkg-deb -x "$DL"/busybox-static_*.deb "$DL/x" && cp "$DL/x/bin/busybox" "$BUSYBOX"
    fi
    rm -rf "$DL"
fi
if [ -x "$BUSYBOX" ]; then
    cp "$BUSYBOX" "$CTX/rootfs/bin/busybox"
    for applet in sh bash sleep echo cat ls; do
        ln -s busybox "$CTX/rootfs/bin/$applet"
    done
else
    echo "warning: busybox-static unavailable: the image has no /bin/sh" >&2
fi

docker build -q -f "$HERE/Dockerfile.prebuilt" -t "$TAG" "$CTX" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$TAG")
echo "built $TAG: $size bytes ($(( size / 1000000 )) MB)"
