"""Zero-copy fetch: with gregor running under strace, consuming ~1 MB must
show sendfile(2) calls that move the log bytes.  Skipped when strace is
missing or ptrace is not permitted."""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

import helpers
from clients import consume_confluent, create_topic, produce_confluent

STRACE = shutil.which("strace")


def strace_works():
    if STRACE is None:
        return False, "strace not installed (run.sh installs it with apt-get when root) - sendfile test skipped"
    res = subprocess.run([STRACE, "-f", "-qq", "-e", "trace=sendfile", "-o", os.devnull, "true"],
                         capture_output=True, timeout=30)
    if res.returncode != 0:
        return False, "strace cannot trace here (ptrace not permitted?): %s" % res.stderr.decode()[-300:]
    return True, ""


def child_pids(pid):
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


# Matches "sendfile(...) = N" and, under -f, "<... sendfile resumed>...) = N".
RESULT_RE = re.compile(r"\)\s+=\s+(-?\d+)")


def test_fetch_uses_sendfile(broker_factory, tmp_path):
    ok, why = strace_works()
    if not ok:
        pytest.skip(why)
    trace = str(tmp_path / "sendfile.trace")
    b = broker_factory(wrapper=[STRACE, "-f", "-qq", "-e", "trace=sendfile", "-e", "signal=none", "-o", trace], name="strace")
    topic = helpers.unique_topic("sendfile")
    create_topic(b.bootstrap, topic, 1)
    msgs = [helpers.Msg(i, 0, b"k%d" % i, os.urandom(1024), [], helpers.now_ms()) for i in range(1024)]
    payload = sum(len(m.value) for m in msgs)
    delivered = produce_confluent(b.bootstrap, topic, msgs, "none")
    consumed = consume_confluent(b.bootstrap, topic, 1, len(msgs))
    assert [r[2] for r in consumed[0]] == [m.value for m in msgs]
    assert len(delivered) == len(msgs)

    # Stop the broker itself (strace's child) so strace flushes and exits with its status.
    kids = child_pids(b.proc.pid)
    assert kids, "no traced child under strace pid %d" % b.proc.pid
    for k in kids:
        os.kill(k, signal.SIGTERM)
    try:
        code = b.proc.wait(30)
    except subprocess.TimeoutExpired:
        b.proc.kill()
        raise AssertionError("gregor under strace did not exit within 30s of SIGTERM")
    assert code == 0, "gregor under strace exited with %s after SIGTERM" % code
    time.sleep(0.1)

    with open(trace) as f:
        all_lines = [ln.rstrip("\n") for ln in f if "sendfile" in ln]
    lines = [ln for ln in all_lines if "sendfile(" in ln]
    results = [RESULT_RE.search(ln) for ln in all_lines]
    moved = sum(int(m.group(1)) for m in results if m and int(m.group(1)) > 0)
    for ln in lines[:5]:
        helpers.summary("strace: " + ln)
    helpers.summary("strace: %d sendfile calls moved %d bytes for %d bytes of values consumed"
                    % (len(lines), moved, payload))
    assert lines, "no sendfile calls while consuming %d bytes; the fetch path copies through userspace" % payload
    assert moved >= payload, "sendfile moved only %d bytes, the consumer read %d bytes of values" % (moved, payload)
