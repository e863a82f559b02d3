"""Connection lifetime and count limits: connections.max.idle.ms closes idle
and stalled connections (while a working client keeps going), max.connections
and max.connections.per.ip bound how many are open."""

import struct
import time

import helpers
from clients import consume_confluent, create_topic, produce_confluent

IDLE_MS = 1000


def _closed_within(sock, seconds):
    """Seconds until the broker closed `sock`, or None if it stayed open."""
    start = time.monotonic()
    state, _ = helpers.wait_closed(sock, seconds)
    return time.monotonic() - start if state == "closed" else None


def test_idle_and_stalled_connections_are_closed(broker_factory):
    b = broker_factory(overrides={"connections.max.idle.ms": str(IDLE_MS)}, name="idle")
    idle = helpers.connect(b.addr)
    # Half a frame: the size and the header, then nothing.
    stalled = helpers.connect(b.addr)
    req = helpers.request_header(helpers.API_METADATA, 4, 9) + helpers.i32(0) + b"\x01"
    stalled.sendall(struct.pack(">i", len(req)) + req[:5])
    # A client that keeps sending requests, each well within the idle time.
    active = helpers.connect(b.addr)
    deadline = time.monotonic() + 3 * IDLE_MS / 1000
    while time.monotonic() < deadline:
        res = helpers.api_versions(active, 0)
        assert res.error_code == 0
        time.sleep(IDLE_MS / 4000)
    for name, sock in (("idle", idle), ("stalled mid-frame", stalled)):
        took = _closed_within(sock, 5)
        assert took is not None, "%s connection still open after %d ms idle limit" % (name, IDLE_MS)
        sock.close()
    assert helpers.api_versions(active, 0).error_code == 0, "active connection was closed"
    active.close()
    # Real clients still work with the short idle limit.
    topic = helpers.unique_topic("idle")
    create_topic(b.bootstrap, topic, 1)
    msgs = helpers.make_messages(20, 1, tag="idle")
    delivered = produce_confluent(b.bootstrap, topic, msgs, "none", timeout=30)
    consumed = consume_confluent(b.bootstrap, topic, 1, len(msgs), timeout=30)
    helpers.verify_consumed(msgs, delivered, consumed, "after idle closes")


def test_long_poll_fetch_is_not_idle(broker_factory):
    b = broker_factory(overrides={"connections.max.idle.ms": str(IDLE_MS)}, name="idle-fetch")
    topic = helpers.unique_topic("idlefetch")
    create_topic(b.bootstrap, topic, 1)
    s = helpers.connect(b.addr, timeout=20)
    # A fetch at the end of an empty partition waits max_wait_ms (3x the idle
    # limit) and must be answered, not cut off.
    start = time.monotonic()
    res = helpers.fetch_v4(s, topic, 0, 0, max_wait_ms=3 * IDLE_MS, min_bytes=1)
    assert time.monotonic() - start >= 2 * IDLE_MS / 1000, res
    assert helpers.api_versions(s, 0).error_code == 0
    s.close()


def test_max_connections(broker_factory):
    b = broker_factory(overrides={"max.connections": "3", "connections.max.idle.ms": "-1"},
                       name="max-conns")
    time.sleep(0.5)  # the start-up probe's connections have closed
    held = [helpers.connect(b.addr) for _ in range(3)]
    for s in held:
        assert helpers.api_versions(s, 0).error_code == 0
    # The fourth is not served (the broker stops accepting) until one closes.
    extra = helpers.connect(b.addr, timeout=1)
    extra.sendall(helpers.frame(helpers.request_header(18, 0, 5)))
    extra.settimeout(1)
    try:
        got = extra.recv(4)
    except OSError:
        got = None
    assert not got, "a fourth connection was served past max.connections=3"
    held.pop().close()
    extra.settimeout(10)
    assert helpers.recv_frame(extra) is not None, "the waiting connection was not served after one closed"
    extra.close()
    for s in held:
        s.close()
    assert "max.connections reached" in b.log_tail(200)


def test_max_connections_per_ip(broker_factory):
    b = broker_factory(overrides={"max.connections.per.ip": "2"}, name="per-ip")
    time.sleep(0.5)  # the start-up probe's connections have closed
    held = [helpers.connect(b.addr) for _ in range(2)]
    for s in held:
        assert helpers.api_versions(s, 0).error_code == 0
    extra = helpers.connect(b.addr)
    assert _closed_within(extra, 5) is not None, "third connection from one address stayed open"
    extra.close()
    held.pop().close()
    time.sleep(0.3)
    again = helpers.connect(b.addr)
    assert helpers.api_versions(again, 0).error_code == 0
    again.close()
    for s in held:
        s.close()
    assert "max.connections.per.ip reached" in b.log_tail(200)
