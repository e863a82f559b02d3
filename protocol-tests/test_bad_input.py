"""Hostile and broken input on raw sockets.  After each case the broker
process must still be alive and a normal client must still produce and
consume."""

import os
import random
import socket
import struct
import threading
import time

import pytest

import helpers
from clients import consume_confluent, create_topic, produce_confluent

MAX_REQUEST = 1048576


@pytest.fixture(scope="module")
def hbroker_module():
    b = helpers.Broker(overrides={"socket.request.max.bytes": str(MAX_REQUEST)}, name="bad-input")
    try:
        b.start()
    except Exception:
        b.close()
        raise
    yield b
    b.close()


@pytest.fixture
def hbroker(hbroker_module):
    """The shared bad-input broker; if an earlier case crashed it, start it
    again (same data dir) so every case is judged on its own."""
    b = hbroker_module
    if not b.alive():
        b.start()
    return b


_health_count = [0]


def assert_healthy(b, what):
    assert b.alive(), "gregor died after %s (exit code %s)" % (what, b.proc.returncode)
    res = helpers.api_versions_addr(b.addr, 0)
    assert res.error_code == 0, "ApiVersions error %d after %s" % (res.error_code, what)
    _health_count[0] += 1
    topic = helpers.unique_topic("health%d" % _health_count[0])
    create_topic(b.bootstrap, topic, 1)
    msgs = helpers.make_messages(20, 1, tag="health")
    delivered = produce_confluent(b.bootstrap, topic, msgs, "snappy", timeout=30)
    consumed = consume_confluent(b.bootstrap, topic, 1, len(msgs), timeout=30)
    helpers.verify_consumed(msgs, delivered, consumed, "health check after %s" % what)
    assert b.alive(), "gregor died after %s" % what


def send_and_expect_close(b, payload, what, timeout=10.0, allow_response=False):
    s = helpers.connect(b.addr)
    try:
        try:
            s.sendall(payload)
            state, data = helpers.wait_closed(s, timeout)
        except (BrokenPipeError, ConnectionResetError):
            state, data = "closed", b""
        time.sleep(0.2)
        assert b.alive(), "gregor crashed (exit code %s) on %s; log tail:\n%s" % (
            b.proc.returncode, what, b.log_tail(40))
        if state == "data" and allow_response:
            return "data"
        assert state == "closed", "%s: expected the broker to close the connection, got %s %r" % (
            what, state, data[:64])
        return state
    finally:
        s.close()


def test_http_garbage(hbroker):
    # "GET " read as a size is ~1.1 GB: far over the limit -> close.
    send_and_expect_close(hbroker, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "HTTP request")
    assert_healthy(hbroker, "HTTP garbage")


def test_random_garbage(hbroker):
    rnd = random.Random(1234)
    for n in range(20):
        junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4096)))
        s = helpers.connect(hbroker.addr)
        try:
            s.sendall(junk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.close()
    # Small well-framed junk: a frame of random bytes with an unknown api key.
    body = struct.pack(">hhi", 0x5A5A, 3, 77) + bytes(rnd.getrandbits(8) for _ in range(64))
    send_and_expect_close(hbroker, helpers.frame(body), "framed random junk", allow_response=True)
    assert_healthy(hbroker, "random garbage")


def test_negative_length(hbroker):
    send_and_expect_close(hbroker, struct.pack(">i", -16) + b"\x00" * 16, "negative frame length")
    send_and_expect_close(hbroker, struct.pack(">i", -1), "frame length -1")
    assert_healthy(hbroker, "negative frame length")


@pytest.mark.parametrize("size", [MAX_REQUEST + 1, 2 * MAX_REQUEST, 200 * 1024 * 1024, 0x7FFFFFFF])
def test_oversized_frame(hbroker, size):
    # Only the size is sent; the broker must reject it without waiting for the body.
    send_and_expect_close(hbroker, struct.pack(">i", size) + helpers.request_header(18, 0, 1),
                          "frame size %d over socket.request.max.bytes" % size)
    assert_healthy(hbroker, "oversized frame %d" % size)


def test_zero_length_frame(hbroker):
    send_and_expect_close(hbroker, struct.pack(">i", 0), "zero-length frame", allow_response=True)
    assert_healthy(hbroker, "zero-length frame")


def test_truncated_body_then_close(hbroker):
    for cut in (1, 4, 9, 30):
        req = helpers.request_header(helpers.API_METADATA, 4, 9) + helpers.array(["a", "b"], helpers.string) + b"\x01"
        s = helpers.connect(hbroker.addr)
        s.sendall(struct.pack(">i", len(req)) + req[:cut])
        s.close()
    # Frame size says more than the (complete) request actually holds, then close.
    s = helpers.connect(hbroker.addr)
    s.sendall(struct.pack(">i", 100) + helpers.request_header(18, 0, 3))
    s.close()
    assert_healthy(hbroker, "truncated bodies")


def _short_field_cases():
    hdr = helpers.request_header(helpers.API_METADATA, 4, 41)
    produce = (helpers.string(None) + helpers.i16(1) + helpers.i32(1000) + helpers.i32(1) + helpers.string("t")
               + helpers.i32(1) + helpers.i32(0) + helpers.i32(1 << 30) + b"\x00" * 10)
    return {
        # topics array claims 2^31-1 entries in a 20-byte frame; must not allocate or hang.
        "huge-array-count": helpers.frame(hdr + struct.pack(">i", 0x7FFFFFFF) + b"\x00\x01a"),
        # a topic name whose length runs past the end of the frame.
        "string-past-end": helpers.frame(hdr + struct.pack(">i", 1) + struct.pack(">h", 30000) + b"abc"),
        # a produce whose records length runs past the frame.
        "records-past-end": helpers.frame(helpers.request_header(helpers.API_PRODUCE, 3, 42) + produce),
        # a client id length running past the end.
        "client-id-past-end": helpers.frame(struct.pack(">hhih", 18, 0, 43, 500) + b"x"),
    }


@pytest.mark.parametrize("case", sorted(_short_field_cases()))
def test_field_lengths_past_frame(hbroker, case):
    """A complete frame whose declared array/string/bytes lengths run past its end."""
    send_and_expect_close(hbroker, _short_field_cases()[case], case, allow_response=True)
    assert_healthy(hbroker, case)


def test_unknown_api_key(hbroker):
    state = send_and_expect_close(hbroker, helpers.frame(helpers.request_header(999, 0, 5)),
                                  "unknown api key 999", allow_response=True)
    helpers.summary("bad-input: unknown api key 999 -> %s" % state)
    assert_healthy(hbroker, "unknown api key")


def test_api_versions_unsupported_version(hbroker):
    """KIP-511: an ApiVersions request with a version the broker does not
    know gets a v0-format response with UNSUPPORTED_VERSION and the api list."""
    s = helpers.connect(hbroker.addr)
    try:
        # A v99 request would be flexible (header v2); the broker can only read up to the client id.
        s.sendall(helpers.frame(helpers.request_header(18, 99, 4242, flexible=True)
                                + helpers.compact_string("x") + helpers.compact_string("1") + b"\x00"))
        resp = helpers.recv_frame(s)
        assert resp is not None, "connection closed instead of an UNSUPPORTED_VERSION response"
        r = helpers.Reader(resp)
        assert r.i32() == 4242
        res = helpers.decode_api_versions_v0(r)
        assert res.error_code == helpers.ERR_UNSUPPORTED_VERSION, "error code %d, expected 35" % res.error_code
        assert 18 in res.apis, "api list in the UNSUPPORTED_VERSION response lacks ApiVersions: %r" % res.apis
        lo, hi = res.apis[18]
        assert lo == 0 and hi >= 3, "ApiVersions range %r" % ((lo, hi),)
        # The connection stays usable for a supported version.
        res2 = helpers.api_versions(s, 3, correlation_id=4243)
        assert res2.error_code == 0
    finally:
        s.close()
    assert_healthy(hbroker, "ApiVersions v99")


def test_unsupported_version_of_other_api(hbroker):
    s = helpers.connect(hbroker.addr)
    try:
        supported = helpers.api_versions(s, 0).apis
    finally:
        s.close()
    hi = supported[helpers.API_METADATA][1]
    state = send_and_expect_close(hbroker, helpers.frame(helpers.request_header(helpers.API_METADATA, hi + 50, 6)),
                                  "Metadata v%d" % (hi + 50), allow_response=True)
    helpers.summary("bad-input: Metadata v%d -> %s" % (hi + 50, state))
    assert_healthy(hbroker, "unsupported Metadata version")


def test_abrupt_disconnects(hbroker):
    # RST in the middle of a large produce request.
    for _ in range(5):
        s = helpers.connect(hbroker.addr)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(struct.pack(">i", 500000) + helpers.request_header(helpers.API_PRODUCE, 3, 1) + os.urandom(20000))
        s.close()
    # Disconnect while a long-poll fetch is parked, so the response has nowhere to go.
    topic = helpers.unique_topic("abrupt")
    create_topic(hbroker.bootstrap, topic, 1)
    for _ in range(3):
        s = helpers.connect(hbroker.addr)
        s.sendall(helpers.frame(helpers.request_header(helpers.API_FETCH, 4, 2)
                                + helpers.encode_fetch_v4(topic, 0, 0, 3000, 1, 1 << 20, 1 << 20)))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    # Pipelined requests, then close without reading any answer.
    s = helpers.connect(hbroker.addr)
    s.sendall(b"".join(helpers.frame(helpers.request_header(18, 0, n)) for n in range(500)))
    s.close()
    assert_healthy(hbroker, "abrupt disconnects")


def test_many_connections(hbroker):
    socks = []
    try:
        for _ in range(300):
            socks.append(helpers.connect(hbroker.addr))
        # All of them are served.
        errors = []

        def ask(sock):
            try:
                helpers.api_versions(sock, 0)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=ask, args=(s,)) for s in socks[:50]]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors[:3]
    finally:
        for s in socks:
            s.close()
    assert_healthy(hbroker, "300 concurrent connections")


# Under an address-space limit a request whose array counts would make the
# decoder pre-size gigabytes must be refused without aborting the broker:
# the bound must not depend on the host's overcommit settings.
ADDRESS_SPACE_LIMIT = 2 * 1024 * 1024 * 1024  # bytes (ulimit -v 2 GiB)


def _wire_count_frames():
    frames = {}
    # 17 bytes after the size prefix: DescribeLogDirs v1 (header v1, null client
    # id) claiming 2^31-1 topics, which asked for 2.68 GB.
    frames["describe-log-dirs-v1"] = helpers.frame(
        helpers.i16(35) + helpers.i16(1) + helpers.i32(5) + helpers.i16(-1)
        + struct.pack(">i", 0x7FFFFFFF) + b"\x00\x00\x00")
    for v in (0, 1, 4, 8):
        frames["metadata-v%d" % v] = helpers.frame(
            helpers.request_header(helpers.API_METADATA, v, 6)
            + struct.pack(">i", 0x7FFFFFFF) + b"\x01\x00\x00")
    for v in (9, 12, 13):
        frames["metadata-v%d" % v] = helpers.frame(
            helpers.request_header(helpers.API_METADATA, v, 6, flexible=True)
            + helpers.uvarint(0x80000000) + b"\x01\x00\x00")
    return frames


def test_wire_counts_cannot_exhaust_a_limited_address_space(broker_factory):
    b = broker_factory(wrapper=["prlimit", "--as=%d" % ADDRESS_SPACE_LIMIT, "--"],
                       name="bounded-as")
    for what, payload in sorted(_wire_count_frames().items()):
        send_and_expect_close(b, payload, what)
    assert_healthy(b, "array counts past the frame under ulimit -v")
