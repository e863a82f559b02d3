#!/usr/bin/env python3
"""Test-stack figures for gregor: start to first ApiVersions answer (empty data
dir, and restart over existing data), idle resident memory, SIGTERM to exit,
and the Docker image size when an image is given.

    python3 benches/startup.py [--bin target/x86_64-unknown-linux-gnu/release/gregor] [--runs 5] [--image gregor:dev]

Only the standard library and protocol-tests/helpers.py (also stdlib-only) are
used, so it runs on any machine with Python 3. Figures are printed as a table;
nothing here is a pass/fail test.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "protocol-tests"))
import helpers  # noqa: E402

POLL_S = 0.0005  # between connection attempts while waiting for the listener


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(binary, data_dir, port):
    cmd = [binary, "--data-dir", data_dir, "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                helpers.api_versions(s)
            return proc, (time.perf_counter() - t0) * 1000
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("broker exited with %s" % proc.returncode)
            time.sleep(POLL_S)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def stop_ms(proc):
    # A blocking wait (waitpid), not Popen.wait(timeout), which polls with
    # growing sleeps and rounds the figure up to its next poll (..., 64, 114 ms).
    watchdog = threading.Timer(30, proc.kill)
    watchdog.start()
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    elapsed = (time.perf_counter() - t0) * 1000
    watchdog.cancel()
    return elapsed, proc.returncode


def fill(port, topics, batches):
    """Auto-creates `topics` topics and appends `batches` 100-record batches to each."""
    names = ["startup-%d" % i for i in range(topics)]
    helpers.metadata_v4(("127.0.0.1", port), names, True)
    time.sleep(0.2)
    recs = [(None, b"x" * 100, ()) for _ in range(100)]
    with socket.create_connection(("127.0.0.1", port)) as s:
        for name in names:
            for _ in range(batches):
                batch = helpers.build_batch(recs, helpers.now_ms())
                r = helpers.roundtrip(s, 0, 3, helpers.encode_produce_v3(name, 0, batch, acks=1))
                err = helpers.decode_produce_v3(r)[(name, 0)][0]
                assert err == 0, "produce error %d" % err


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "x86_64-unknown-linux-gnu", "release", "gregor"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--image", default=None, help="a built gregor image to report the size of")
    args = ap.parse_args()

    empty, restart, rss, term = [], [], [], []
    for _ in range(args.runs):
        d = tempfile.mkdtemp(prefix="gregor-startup-")
        try:
            port = free_port()
            proc, ms = start(args.bin, d, port)
            empty.append(ms)
            fill(port, topics=20, batches=50)
            time.sleep(2.0)  # settle: background tasks idle
            rss.append(rss_kib(proc.pid))
            ms, rc = stop_ms(proc)
            assert rc == 0, "exit code %d after SIGTERM" % rc
            term.append(ms)
            proc, ms = start(args.bin, d, port)
            restart.append(ms)
            stop_ms(proc)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def row(name, xs, unit):
        print("| %-56s | %8.1f | %8.1f | %8.1f | %s |" % (name, min(xs), statistics.median(xs), max(xs), unit))

    print("gregor %s, %d runs, %d cores" % (args.bin, args.runs, os.cpu_count()))
    print("| %-56s | %8s | %8s | %8s | unit |" % ("measure", "min", "median", "max"))
    print("|%s|----------|----------|----------|------|" % ("-" * 58))
    row("start -> first ApiVersions answer (empty dir)", empty, "ms")
    row("restart -> first ApiVersions (20 topics, 100k records)", restart, "ms")
    row("idle resident memory after 100k records", [r / 1024 for r in rss], "MiB")
    row("SIGTERM -> process exit (data flushed)", term, "ms")
    if args.image:
        size = subprocess.run(["docker", "image", "inspect", args.image, "--format", "{{.Size}}"],
                              capture_output=True, text=True)
        if size.returncode == 0:
            print("| %-56s | %32.1f | MB |" % ("image %s" % args.image, int(size.stdout.strip()) / 1e6))
        else:
            print("image %s: %s" % (args.image, size.stderr.strip()))


if __name__ == "__main__":
    main()
