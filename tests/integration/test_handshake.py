"""Two real daemons handshake over UDP and TCP, cloaked and plain, and exchange a message
and channel data; e3xctl shows both up with counters moving."""
import base64
import json
import os
import re
import socket
import subprocess
import unittest

from harness import DaemonTestCase, E3XCTL, both_up, connected_pair, wait_until


class Handshake(DaemonTestCase):
    def check_pair(self, transport, cloak, ip="127.0.0.1"):
        v = "6" if ":" in ip else "4"
        shown_ip = f"[{ip}]" if v == "6" else ip
        a, b = connected_pair(self, transport=transport, cloak=cloak, ip=ip)
        a.start()
        b.start()
        pa, pb = wait_until(lambda: both_up(a, b), 20, f"both up over {transport}")
        for seen, other in ((pa, b), (pb, a)):
            self.assertEqual(seen["hashname"], other.hashname)
            self.assertEqual(seen["key"], other.key)
            self.assertTrue(seen["path"].startswith(f"{transport}{v} {shown_ip}:"), seen["path"])
            self.assertRegex(seen["token"], r"^[0-9a-f]{32}$")
            self.assertIsNotNone(seen["last_handshake"])
            self.assertGreater(seen["seq_sent"] + seen["seq_recv"], 0)
        # Tokens agree: what A routes by is B's, and the reverse.
        self.assertNotEqual(pa["token"], pb["token"])

        before = a.peer("b")
        # Channel data: the built-in "path" channel tells A how B sees it.
        ping = a.ctl("ping", "b")
        self.assertEqual(ping["path"]["type"], transport + v)
        self.assertEqual(ping["path"]["ip"], ip)
        if transport == "udp":
            self.assertEqual(ping["path"]["port"], a.udp_port)
        self.assertGreaterEqual(ping["rtt_ms"], 0)
        # A message, binary-safe.
        payload = bytes(range(256)) * 4
        payload_file = os.path.join(a.dir, "payload.bin")
        with open(payload_file, "wb") as f:
            f.write(payload)
        watch = subprocess.Popen([E3XCTL, "-s", b.socket, "--json", "watch"],
                                 stdout=subprocess.PIPE, text=True)
        try:
            first = json.loads(watch.stdout.readline())  # the subscription's acknowledgement
            self.assertTrue(first.get("watching", True))
            sent = a.ctl("send", "b", "--file", payload_file)
            self.assertEqual(sent["bytes"], len(payload))
            event = None
            while event is None or event.get("event") != "message":
                event = json.loads(watch.stdout.readline())
            self.assertEqual(event["id"], sent["id"])
            self.assertEqual(event["peer"], "a")
            self.assertEqual(base64.b64decode(event["body_base64"]), payload)
        finally:
            watch.terminate()
            watch.wait()
        after = a.peer("b")
        for counter in ("tx_packets", "rx_packets", "tx_bytes", "rx_bytes"):
            self.assertGreater(after[counter], before[counter], counter)
        status = a.ctl("status")
        self.assertEqual(status["hashname"], a.hashname)
        self.assertEqual((status["peers_up"], status["peers_total"]), (1, 1))
        self.assertIn(f"{transport}{v} {shown_ip}:{a.udp_port if transport == 'udp' else a.tcp_port}",
                      status["public_paths"])

    def test_udp_cloaked(self):
        self.check_pair("udp", True)

    def test_udp_plain(self):
        self.check_pair("udp", False)

    def test_tcp_cloaked(self):
        self.check_pair("tcp", True)

    def test_tcp_plain(self):
        self.check_pair("tcp", False)

    def require_ipv6(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(("::1", 0))
        except OSError as error:
            self.skipTest(f"no IPv6 loopback here: {error}")

    def test_udp_ipv6(self):
        self.require_ipv6()
        self.check_pair("udp", True, ip="::1")

    def test_tcp_ipv6(self):
        self.require_ipv6()
        self.check_pair("tcp", False, ip="::1")

    def test_host_names_are_resolved(self):
        a, b = connected_pair(self)
        a.peers[0]["endpoints"] = [f"udp://localhost:{b.udp_port}"]
        b.peers[0]["endpoints"] = []  # B only answers
        a.start()
        b.start()
        pa, _ = wait_until(lambda: both_up(a, b), 20, "up through a resolved name")
        self.assertEqual(pa["path"], f"udp4 127.0.0.1:{b.udp_port}")
        self.assertEqual(pa["endpoints"], [f"udp://localhost:{b.udp_port}"])

    def test_unresolvable_name_is_reported_and_retried(self):
        a, b = connected_pair(self)
        a.peers[0]["endpoints"] = [f"udp://no-such-host.invalid:{b.udp_port}"]
        a.start()
        down = wait_until(lambda: (p := a.peer("b"))["reason"] and "cannot resolve" in p["reason"]
                          and p, 20, "the resolve error in the peer's reason")
        self.assertEqual(down["state"], "down")
        self.assertIn("no-such-host.invalid", down["reason"])
        # `e3xctl peer` names the endpoint and the resolver's reason on a line of its own, and
        # keeps it while the next attempt resolves again.
        endpoint = f"udp://no-such-host.invalid:{b.udp_port}"
        self.assertEqual(list(down["endpoint_errors"]), [endpoint])
        self.assertTrue(down["endpoint_errors"][endpoint], down)
        human = subprocess.run([E3XCTL, "-s", a.socket, "peer", "b"], capture_output=True,
                               text=True, check=True).stdout
        # (The resolver's words may change between attempts: no answer, then not found.)
        self.assertRegex(human, f"\n  configured endpoints: {re.escape(endpoint)}\n"
                         f"  cannot resolve {re.escape(endpoint)}: .+\n")
        # Retried with backoff (1 s, then about 2 s), not given up and not spun on.
        wait_until(lambda: a.log_text().count("cannot resolve") >= 2, 15, "a second attempt")
        self.assertLess(a.log_text().count("cannot resolve"), 6)
        self.assertEqual(a.process.poll(), None)

    def test_human_output(self):
        a, b = connected_pair(self)
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        out = subprocess.run([E3XCTL, "-s", a.socket, "peers"], capture_output=True, text=True,
                             check=True).stdout
        self.assertIn("peer: b", out)
        self.assertIn("state: up", out)
        self.assertIn("latest handshake:", out)
        self.assertIn("ago", out)

    def test_ctl_without_daemon(self):
        out = subprocess.run([E3XCTL, "-s", os.path.join(self.root, "nothing.sock"), "status"],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 3)
        self.assertIn("is e3xd running", out.stderr)


if __name__ == "__main__":
    unittest.main()
