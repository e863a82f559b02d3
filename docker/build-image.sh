#!/usr/bin/env bash
# Builds the gregor image from a static binary made on this host, for Docker
# engines that cannot pull a Rust image (Dockerfile.prebuilt, FROM scratch).
#
#   docker/build-image.sh                       # build the binary, tag gregor:latest
#   docker/build-image.sh --binary PATH --tag gregor:test [--shell mksh|bash]
#
# The binary must be statically linked (the image has no libc); without
# --binary it is built with
#   RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu
#
# Debian's busybox-static (the applets) and mksh's static musl build (/bin/sh
# and, by default, /bin/bash) are fetched with apt-get download and cached in
# docker/.cache; --shell bash puts Debian's bash-static at /bin/bash instead
# (real bash: declare -A, ${!var}, /dev/tcp) for 2.3 MB more.
# docker/README.md ("Shell") has the figures behind the default. The layout itself is
# docker/assemble-rootfs.sh, shared with docker/Dockerfile.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TARGET=x86_64-unknown-linux-gnu
BINARY=""
TAG="gregor:latest"
SHELL_KIND=mksh
#: The issue's ceiling for the image, in bytes (docker image inspect .Size).
MAX_IMAGE_BYTES=15000000
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) BINARY="$2"; shift 2 ;;
        --tag) TAG="$2"; shift 2 ;;
        --shell) SHELL_KIND="$2"; shift 2 ;;
        *) echo "usage: $0 [--binary PATH] [--tag TAG] [--shell mksh|bash]" >&2; exit 2 ;;
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

CACHE="$HERE/.cache"
mkdir -p "$CACHE"
# Copies binary $2 of Debian package $1 to $CACHE/$3 unless it is there.
fetch_deb_binary() {
    local pkg="$1" path="$2" out="$CACHE/$3" dl
    [ -x "$out" ] && return 0
    command -v apt-get >/dev/null 2>&1 || return 1
    dl="$(mktemp -d)"
    chmod 777 "$dl"
    if (cd "$dl" && timeout 120 apt-get download -q "$pkg" >/dev/null 2>&1) \
        || { [ "$(id -u)" = "0" ] && timeout 300 apt-get update -q >/dev/null 2>&1 \
             && (cd "$dl" && timeout 120 apt-get download -q "$pkg" >/dev/null 2>&1); }; then
        dpkg-deb -x "$dl"/"$pkg"_*.deb "$dl/x" && cp "$dl/x/$path" "$out"
    fi
    rm -rf "$dl"
    [ -x "$out" ]
}
if ! fetch_deb_binary busybox-static bin/busybox busybox; then
    echo "busybox-static unavailable (apt-get download failed): the image needs its sh and applets" >&2
    exit 1
fi
if ! fetch_deb_binary mksh usr/lib/x86_64-linux-musl/bin/mksh mksh; then
    echo "mksh unavailable (apt-get download failed): the image needs its /bin/sh" >&2
    exit 1
fi
BASH_BIN=""
case "$SHELL_KIND" in
    mksh) ;;
    bash)
        if ! fetch_deb_binary bash-static bin/bash-static bash; then
            echo "bash-static unavailable (apt-get download failed)" >&2
            exit 1
        fi
        BASH_BIN="$CACHE/bash" ;;
    *) echo "--shell takes mksh or bash, not $SHELL_KIND" >&2; exit 2 ;;
esac

CTX="$(mktemp -d)"
trap 'rm -rf "$CTX"' EXIT
strip -o "$CTX/gregor" "$BINARY" 2>/dev/null || cp "$BINARY" "$CTX/gregor"
"$HERE/assemble-rootfs.sh" "$CTX/gregor" "$CACHE/busybox" "$CACHE/mksh" "$BASH_BIN" "$CTX"
rm "$CTX/gregor"

docker build -q -f "$HERE/Dockerfile.prebuilt" -t "$TAG" "$CTX" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$TAG")
echo "built $TAG: $size bytes ($(( size / 1000000 )) MB)"
if [ "$size" -ge "$MAX_IMAGE_BYTES" ]; then
    echo "warning: $TAG is over the $MAX_IMAGE_BYTES-byte ceiling" >&2
fi
