#!/usr/bin/env bash
# Lays out the image's file system for Dockerfile.prebuilt (build-image.sh)
# and the build stage of Dockerfile, so both images are the same:
#
#   docker/assemble-rootfs.sh GREGOR BUSYBOX MKSH BASH OUT
#
# GREGOR is the stripped static binary, BUSYBOX Debian's static busybox (the
# applets), MKSH Debian's static (musl) mksh, the shell behind /bin/sh and,
# unless BASH names Debian's bash-static binary, /bin/bash (README.md,
# "Shell", says why). OUT gets two trees: OUT/root (owned by root in the
# image) and OUT/user (the directories uid 1000 must write; the Dockerfile
# copies each with --chown).
#
# The tool links come from the binary itself (`gregor tool-names`), so a tool
# added to src/tools/mod.rs is linked without editing this file.
set -euo pipefail

if [ $# -ne 5 ]; then
    echo "usage: $0 GREGOR BUSYBOX MKSH BASH|'' OUT" >&2
    exit 2
fi
GREGOR="$1"
BUSYBOX="$2"
MKSH="$3"
BASH_BIN="$4"
OUT="$5"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$HERE/rootfs"
R="$OUT/root"
U="$OUT/user"
mkdir -p "$R" "$U"

# Root-owned files: scripts, passwd/group, binaries, links.
cp -a "$SRC/." "$R/"
# Everything uid 1000 writes moves to the user tree.
for d in etc/kafka etc/confluent opt/kafka/config var/lib/kafka; do
    mkdir -p "$U/$(dirname "$d")"
    mv "$R/$d" "$U/$d"
done
rm -f "$U/var/lib/kafka/data/.keep"
mkdir -p "$U/etc/kafka/secrets" "$U/home/appuser" "$U/mnt/shared/config" \
    "$U/usr/logs" "$U/var/log/kafka" "$U/bitnami/kafka/data" "$U/bitnami/kafka/config"
chmod -R ug+w "$U"

mkdir -p "$R/usr/local/bin" "$R/usr/bin" "$R/usr/sbin" "$R/usr/local/sbin" "$R/sbin" \
    "$R/bin" "$R/opt/kafka/bin" "$R/opt/bitnami/kafka/bin" "$R/tmp" "$R/root"
chmod 1777 "$R/tmp"
install -m 755 "$GREGOR" "$R/usr/local/bin/gregor"

# Every tool by its script name, with and without .sh, on PATH (/usr/bin, as
# cp-kafka has them), under /opt/kafka/bin (apache/kafka) and under
# /opt/bitnami/kafka/bin (bitnami); zookeeper-server-start is a script.
names="$("$GREGOR" tool-names)"
if [ -z "$names" ]; then
    echo "$GREGOR tool-names printed nothing" >&2
    exit 1
fi
for name in $names; do
    for n in "$name" "$name.sh"; do
        ln -sf /usr/local/bin/gregor "$R/usr/bin/$n"
    done
done
ln -sf zookeeper-server-start "$R/usr/bin/zookeeper-server-start.sh"
for n in $names zookeeper-server-start; do
    for dir in opt/kafka/bin opt/bitnami/kafka/bin; do
        ln -sf "/usr/bin/$n" "$R/$dir/$n"
        ln -sf "/usr/bin/$n" "$R/$dir/$n.sh"
    done
done
ln -sf /opt/kafka/bin/kafka-run-class.sh "$R/opt/bitnami/kafka/bin/kafka-run-class.sh"
ln -sf /opt/bitnami/scripts/kafka/entrypoint.sh "$R/entrypoint.sh"
ln -sf /opt/bitnami/scripts/kafka/run.sh "$R/run.sh"

# busybox and the applets compose files and start scripts call; nc is
# gregor's (busybox's lacks -z), so busybox gets no nc link. busybox's own
# ash is only /bin/ash: it runs its applets ahead of PATH, so `sh -c 'nc -z
# ...'` under it would reach busybox's nc, not gregor's.
install -m 755 "$BUSYBOX" "$R/bin/busybox"
applets="ash awk sed cut grep egrep fgrep hostname id timeout sleep usleep cat
echo env tr head tail wc mkdir rmdir rm cp mv ln ls ps kill killall pidof printf
test [ [[ seq tee xargs date uname which mktemp chmod chown dirname basename
readlink realpath sort uniq touch true false nslookup wget expr find stat du df
base64 od hexdump md5sum sha256sum gzip gunzip zcat tar diff cmp less more vi
pwd whoami groups nproc free top uptime watch netstat ip ping setsid stty tty
yes getopt tac rev fold expand truncate sync clear logger time"
have=" $("$BUSYBOX" --list | tr '\n' ' ') "
for a in $applets; do
    case "$have" in
        *" $a "*) ln -sf busybox "$R/bin/$a" ;;
        *) echo "warning: this busybox has no $a applet" >&2 ;;
    esac
done
ln -sf /bin/busybox "$R/usr/bin/env"
install -m 755 "$MKSH" "$R/bin/mksh"
ln -sf mksh "$R/bin/sh"
if [ -n "$BASH_BIN" ]; then
    install -m 755 "$BASH_BIN" "$R/bin/bash"
else
    ln -sf mksh "$R/bin/bash"
fi
