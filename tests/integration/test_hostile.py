"""Garbage on every input leaves e3xd working: random and malformed datagrams, junk on the
TCP port, and malformed control-socket lines, each answered with an error on the same
connection, which stays usable."""
import json
import os
import random
import socket
import unittest

from harness import DaemonTestCase, both_up, connected_pair, wait_until


class Hostile(DaemonTestCase):
    def test_garbage_datagrams_and_tcp_junk(self):
        a, b = connected_pair(self, transport="udp")
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        rng = random.Random(1234)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(3000):
                kind = i % 6
                if kind == 0:
                    data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 1500)))
                elif kind == 1:
                    data = b"\x00" + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
                elif kind == 2:
                    data = b"\x00\x02{}" + b"\x1a" * rng.randrange(0, 100)  # LOB, CSID-ish junk
                elif kind == 3:
                    data = b"\x01" * 9  # a cloak layer around nothing
                elif kind == 4:
                    data = b"\x00\x10" + b"x" * 16 + b"\x1a" + bytes(80)  # head, then a 3a-looking body
                else:
                    data = b""
                try:
                    s.sendto(data, ("127.0.0.1", a.udp_port))
                except OSError:
                    pass
            s.sendto(b"\x07" * 65000, ("127.0.0.1", a.udp_port))
        for junk in (b"\x05hello\x00" * 100, b"\xff" * 70000, os.urandom(5000)):
            with socket.create_connection(("127.0.0.1", a.tcp_port), timeout=5) as t:
                try:
                    t.sendall(junk)
                except OSError:
                    pass  # the daemon may close a connection whose frame is too large
        # Still alive and still serving its peer.
        self.assertEqual(a.process.poll(), None)
        ping = a.ctl("ping", "b")
        self.assertEqual(ping["path"]["port"], a.udp_port)
        self.assertEqual(a.peer("b")["state"], "up")
        self.assertEqual(b.ctl("ping", "a")["path"]["port"], b.udp_port)
        dropped = a.ctl("status")["dropped"]
        self.assertGreater(dropped["malformed"], 0, dropped)
        self.assertGreater(dropped["uncloak"], 0, dropped)
        self.assertGreater(dropped["oversize"] + dropped["malformed"], 0, dropped)
        self.assertEqual(b.ctl("status")["dropped"]["unauthenticated"], 0)
        # The drops were summarised, not logged per packet.
        wait_until(lambda: "dropped in the last" in a.log_text(), 15, "a drop summary line")
        self.assertLess(a.log_text().count("dropped"), 20)

    def test_garbage_control_lines_get_errors_and_the_connection_stays_usable(self):
        a = self.daemon("a", udp_port=0)
        a.start()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(a.socket)
            s.settimeout(10)
            reader = s.makefile("rb")

            def ask(line):
                s.sendall(line + b"\n")
                return json.loads(reader.readline())

            cases = {
                b"not json": "bad_json",
                b"{": "bad_json",
                b"[1,2,3]": "bad_request",
                b'{"cmd":5}': "bad_request",
                b'{"nocmd":true}': "bad_request",
                b'{"cmd":"frobnicate"}': "unknown_command",
                b'{"cmd":"peer"}': "bad_argument",
                b'{"cmd":"peer","peer":"nobody"}': "unknown_peer",
                b'{"cmd":"send","peer":"nobody","text":"x"}': "unknown_peer",
                b"\xff\xfe\x00garbage": "bad_json",
                b"x" * (200 * 1024): "line_too_long",
            }
            for line, code in cases.items():
                reply = ask(line)
                self.assertFalse(reply["ok"], line[:40])
                self.assertEqual(reply["error"]["code"], code, line[:40])
                self.assertTrue(reply["error"]["message"])
            reply = ask(b'{"cmd":"status"}')
            self.assertTrue(reply["ok"])
            self.assertEqual(reply["result"]["hashname"], a.hashname)
        self.assertEqual(a.process.poll(), None)


if __name__ == "__main__":
    unittest.main()
