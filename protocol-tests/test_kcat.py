"""kcat (librdkafka's CLI) against gregor: produce with keys, consume from
the beginning, list metadata.  Skipped when neither kcat nor kafkacat is installed."""

import json
import shutil
import subprocess

import pytest

import helpers
from clients import create_topic

KCAT = shutil.which("kcat") or shutil.which("kafkacat")

pytestmark = pytest.mark.skipif(
    KCAT is None,
    reason="kcat/kafkacat not installed (run.sh installs it with apt-get when root; "
           "otherwise `apt-get install kcat`) - kcat tests skipped")


def kcat(*args, stdin=None, timeout=60):
    res = subprocess.run([KCAT] + list(args), input=stdin, capture_output=True, timeout=timeout)
    assert res.returncode == 0, "%s %s exited %d\nstdout: %s\nstderr: %s" % (
        KCAT, " ".join(args), res.returncode, res.stdout[-2000:], res.stderr[-4000:])
    return res


@pytest.mark.parametrize("codec", ["none", "snappy", "zstd"])
def test_kcat_produce_consume(broker, codec):
    topic = helpers.unique_topic("kcat-" + codec)
    create_topic(broker.bootstrap, topic, 1)
    lines = ["key%d:value %d %s" % (n, n, "z" * (n % 50)) for n in range(500)]
    kcat("-P", "-b", broker.bootstrap, "-t", topic, "-K:", "-z", codec, "-p", "0",
         stdin=("\n".join(lines) + "\n").encode())
    res = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-e", "-o", "beginning", "-q",
               "-f", "%k:%s\n")
    got = res.stdout.decode().splitlines()
    assert got == lines, "kcat consumed %d lines, first mismatch at %s" % (
        len(got), next((n for n, (a, b) in enumerate(zip(got, lines)) if a != b), min(len(got), len(lines))))
    # Offsets and partition as kcat sees them.
    res = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-e", "-o", "-3", "-q", "-f", "%p %o %k\n")
    assert res.stdout.decode().splitlines() == ["0 497 key497", "0 498 key498", "0 499 key499"], res.stdout
    helpers.summary("kcat codec=%s produced=%d consumed=%d" % (codec, len(lines), len(got)))


def test_kcat_list_metadata(broker):
    topic = helpers.unique_topic("kcat-meta")
    create_topic(broker.bootstrap, topic, 3)
    res = kcat("-L", "-b", broker.bootstrap)
    text = res.stdout.decode()
    assert 'topic "%s" with 3 partitions' % topic in text, text[-3000:]
    assert "127.0.0.1:%d" % broker.port in text, text[:1000]
    res = kcat("-L", "-J", "-b", broker.bootstrap, "-t", topic)
    md = json.loads(res.stdout)
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics, md
    assert sorted(p["partition"] for p in topics[topic]["partitions"]) == [0, 1, 2], topics[topic]
    assert [(b["name"]) for b in md["brokers"]] == ["127.0.0.1:%d" % broker.port], md["brokers"]
