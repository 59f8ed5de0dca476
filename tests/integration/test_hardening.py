"""Issue 10 with real processes: a killed peer goes down with messages queued (PROTOCOL.md
10.6), a refused TCP endpoint is dialled again and the error says why, idle unauthenticated
TCP connections are closed (10.9), and one peer cannot fill the inbox for everyone."""
import base64
import os
import socket
import threading
import time
import unittest

from harness import DaemonTestCase, both_up, connected_pair, free_port, wait_until

SANITIZED = os.environ.get("E3X_SANITIZED", "OFF").upper() in ("ON", "1", "TRUE")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def send(d, peer, body, **args):
    return d.request("send", peer=peer, base64=base64.b64encode(body).decode(), **args)


class Liveness(DaemonTestCase):
    # Item 10: retries of queued messages used to count as "sending", so the keepalive never
    # asked and a SIGKILLed peer stayed "up" for as long as messages were queued. Rule 6: the
    # first unanswered packet starts 10 s of silence, then a handshake has 30 s to be
    # confirmed: down within about 40 s, with messages in flight.
    def test_killed_peer_goes_down_within_the_liveness_bound_with_messages_queued(self):
        a, b = connected_pair(self)
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        b.kill()
        killed = time.monotonic()
        for i in range(5):
            self.assertTrue(send(a, "b", f"queued {i}".encode())["ok"])
        down = wait_until(lambda: (p := a.peer("b"))["state"] != "up" and p, 90,
                          "A to notice that B is gone")
        elapsed = time.monotonic() - killed
        print(f"\nB was reported {down['state']} {elapsed:.1f} s after SIGKILL")
        # 10 s of silence + 30 s unconfirmed handshake, plus the moment the first retry
        # left; the margin is for a loaded machine, not for the protocol.
        self.assertLess(elapsed, 55)
        outbox = a.result("outbox")
        self.assertEqual(len(outbox), 5)
        wait_until(lambda: all(m["last_error"] for m in a.result("outbox")), 10,
                   "each queued message to say why it waits")
        self.assertIn("down", a.result("outbox")[0]["last_error"])
        # A is dialling B again at once; the messages still say B went down and why (CI
        # once read them just after the redial began, when they said only "connecting").
        wait_until(lambda: all(m["last_error"] == "waiting: the peer is down (timeout), "
                               "connecting again" for m in a.result("outbox")), 20,
                   "the queued messages to keep the reason while A dials B again")
        # The history stays (item 12): the last handshake and the totals of the exchange.
        peer = a.peer("b")
        self.assertIsNotNone(peer["last_handshake"])
        self.assertGreater(peer["rx_packets"], 0)
        self.assertGreater(peer["tx_packets"], 0)
        # B comes back: everything queued is delivered.
        b.start()
        wait_until(lambda: a.result("outbox") == [], 60, "the queued messages to arrive")


class Forwarder:
    """A TCP port that refuses until start(), then forwards every connection to `target`:
    a peer's endpoint that was unreachable (a firewall, a service not up yet) and then is."""

    def __init__(self, target_port):
        self.port = free_port(socket.SOCK_STREAM)
        self.target_port = target_port
        self.listener = None

    def start(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        if self.listener:
            self.listener.close()


class TcpEndpoint(DaemonTestCase):
    # Item 11: a message that needs TCP stayed stuck for ever once the peer's tcp:// endpoint
    # had refused, with a wrong error. It must be dialled again (with the outbox's backoff)
    # and the error must name what failed; neither daemon is restarted.
    def test_refused_tcp_endpoint_is_dialled_again_and_the_error_says_why(self):
        a = self.daemon("a", udp_port=free_port(), tcp_port=None)
        b = self.daemon("b", udp_port=free_port(), tcp_port=free_port(socket.SOCK_STREAM))
        gate = Forwarder(b.tcp_port)  # refuses until opened
        self.addCleanup(gate.stop)
        a.add_peer(b, [b.udp_endpoint(), f"tcp://127.0.0.1:{gate.port}"])
        b.add_peer(a, [a.udp_endpoint()])
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up over UDP")
        body = os.urandom(3000)  # more than one UDP datagram: needs TCP
        self.assertTrue(send(a, "b", body, id="big")["ok"])
        error = wait_until(lambda: (m := a.result("outbox")) and m[0]["last_error"], 20,
                           "the refused dial to be reported")
        self.assertIn(f"tcp://127.0.0.1:{gate.port}", error)
        self.assertIn("refused", error.lower())
        attempts = a.result("outbox")[0]["attempts"]
        wait_until(lambda: a.result("outbox")[0]["attempts"] > attempts + 1, 20,
                   "further attempts, each dialling again")
        gate.start()
        wait_until(lambda: a.result("outbox") == [], 30, "delivery over the TCP endpoint")
        read = b.result("inbox_read", id="big")
        self.assertEqual(base64.b64decode(read["body_base64"]), body)


class UnauthenticatedTcp(DaemonTestCase):
    # Item 8 / rule 9: idle unauthenticated TCP connections were never closed (1,024 of them
    # held 100 MB). Now each is closed after 10 s, and one address may hold at most 16.
    def test_idle_unauthenticated_connections_are_closed(self):
        a = self.daemon("a", udp_port=free_port(), tcp_port=free_port(socket.SOCK_STREAM),
                        log_level="info")
        a.start()
        pid = a.process.pid
        before = rss_kib(pid)
        clients = []
        # 1,000 connections from 63 loopback addresses (at most 16 each).
        for i in range(1000):
            source = f"127.0.{1 + i // 16}.{1 + i % 16}"
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((source, 0))
            s.connect(("127.0.0.1", a.tcp_port))
            clients.append(s)
        opened = time.monotonic()
        wait_until(lambda: a.result("status")["dropped"]["tcp_unauthenticated_closed"] >= 1000,
                   60, "every idle connection to be closed")
        closed_after = time.monotonic() - opened
        print(f"\n1,000 idle connections closed {closed_after:.1f} s after they opened")
        self.assertLess(closed_after, 25)  # 10 s each, checked every second; margin for load
        # The peers see them closed.
        for s in clients[:50]:
            s.settimeout(5)
            self.assertEqual(s.recv(1), b"", "a connection was not closed")
        for s in clients:
            s.close()
        if SANITIZED:
            print("resident memory not checked: sanitizer build (quarantined frees)")
        else:
            after = rss_kib(pid)
            print(f"RSS {before} KiB before, {after} KiB after")
            self.assertLess(after, before + 8 * 1024)
        # At most 16 unauthenticated connections from one address at once.
        burst = []
        for _ in range(20):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.9.9", 0))
            s.connect(("127.0.0.1", a.tcp_port))
            burst.append(s)
        wait_until(lambda: a.result("status")["dropped"]["tcp_unauthenticated_refused"] >= 4, 10,
                   "the connections over the per-address limit to be refused")
        self.assertEqual(a.result("status")["dropped"]["tcp_unauthenticated_refused"], 4)
        for s in burst:
            s.close()
        self.assertTrue(a.ctl("status"))


class InboxQuota(DaemonTestCase):
    # Item 9: one peer could fill the shared inbox quota for everyone. Each sender now has
    # its own share of unacknowledged bytes; what does not fit waits in the sender's outbox
    # (no receipt) and arrives once the recipient acknowledges what it holds.
    def test_one_peer_cannot_fill_the_inbox_for_everyone(self):
        a = self.daemon("a", udp_port=free_port())
        c = self.daemon("c", udp_port=free_port())
        b = self.daemon("b", udp_port=free_port(),
                        extra_config="[messages]\npeer_quota = 65536\n")
        for sender in (a, c):
            sender.add_peer(b, [b.udp_endpoint()])
            b.add_peer(sender, [sender.udp_endpoint()])
        for d in (a, b, c):
            d.start()
        wait_until(lambda: both_up(a, b) and both_up(c, b), 20, "all up")
        bodies = {f"a{i:02d}": os.urandom(1200) for i in range(80)}  # ~96 KB > 64 KiB
        for message_id, body in bodies.items():
            self.assertTrue(send(a, "b", body, id=message_id)["ok"])
        wait_until(lambda: b.result("status")["messages"]["refused"] > 0, 30,
                   "B to refuse what is over A's share")
        # c is not affected.
        self.assertTrue(send(c, "b", b"from c", id="c1")["ok"])
        wait_until(lambda: c.result("outbox") == [], 30, "c's message to be delivered")
        held = [m for m in b.result("inbox") if m["peer"] == "a"]
        self.assertLess(len(held), 80)
        self.assertGreater(len(a.result("outbox")), 0, "A keeps what was not stored")
        # B acknowledges what it holds: the rest arrives, each message exactly once.
        for m in held:
            b.result("inbox_ack", id=m["id"], peer="a")
        received = {m["id"] for m in held}
        deadline = time.monotonic() + 120
        while a.result("outbox") and time.monotonic() < deadline:
            for m in b.result("inbox"):
                if m["peer"] == "a":
                    received.add(m["id"])
                    b.result("inbox_ack", id=m["id"], peer="a")
            time.sleep(0.2)
        for m in b.result("inbox"):
            if m["peer"] == "a":
                received.add(m["id"])
        self.assertEqual(a.result("outbox"), [])
        self.assertEqual(received, set(bodies))


if __name__ == "__main__":
    unittest.main()
