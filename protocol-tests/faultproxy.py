"""A loopback TCP proxy that cuts every connection through it at random moments.

Tests point a broker's advertised listener at the proxy, so clients reach the
broker only through it; cutting both sides with a TCP reset (SO_LINGER 0) loses
requests and responses in flight. Every other cut instead waits for the next
response coming back from the broker and drops it together with the
connection: the request was handled but the client never hears of it, which
is what makes an idempotent producer retry a batch the broker already appended."""

import random
import socket
import struct
import threading
import time


class CuttingProxy:
    def __init__(self, target_port, min_interval=0.2, max_interval=0.6, seed=1):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.interval = (min_interval, max_interval)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.pairs = []
        self.accepted = 0
        self.cuts = 0
        self.dropped_responses = 0
        self.drop_next_response = threading.Event()
        self.cutting = threading.Event()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True),
                        threading.Thread(target=self._cutter, daemon=True)]
        for t in self.threads:
            t.start()

    def start_cutting(self):
        self.cutting.set()

    def stop_cutting(self):
        self.cutting.clear()
        self.drop_next_response.clear()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src, dst, responses):
        """Copies src to dst. Each socket is the source of exactly one pump, which
        alone closes it: closing a socket another thread is blocked on would let
        the kernel reuse its descriptor for a new connection under that thread."""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if responses and self.drop_next_response.is_set():
                    with self.lock:
                        take = self.drop_next_response.is_set()
                        self.drop_next_response.clear()
                        if take:
                            self.dropped_responses += 1
                    if take:
                        break
                dst.sendall(data)
        except OSError:
            pass
        self._cut(src)
        self._cut(dst)
        try:
            src.close()
        except OSError:
            pass

    @staticmethod
    def _cut(sock):
        """Ends the connection abruptly (RST on close) and wakes the pump reading it."""
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cut_all(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
            if pairs:
                self.cuts += 1
        for client, upstream in pairs:
            self._cut(client)
            self._cut(upstream)

    def _cutter(self):
        n = 0
        while not self.stopped.is_set():
            time.sleep(self.rng.uniform(*self.interval))
            if self.cutting.is_set():
                n += 1
                if n % 2:
                    self.cut_all()
                else:
                    self.drop_next_response.set()

    def close(self):
        self.stopped.set()
        try:
            self.listener.close()
        except OSError:
            pass
        self.cut_all()
