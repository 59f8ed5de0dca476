"""Reload (e3xctl reload and SIGHUP) adds, removes and changes peers; a peer whose config did
not change keeps its exchange (same token); settings bound at start are reported."""
import json
import signal
import subprocess
import unittest

from harness import DaemonTestCase, E3XCTL, free_port, wait_until


def up(d, name):
    p = d.peer(name)
    return p if p["state"] == "up" else None


class Reload(DaemonTestCase):
    def test_reload_adds_removes_and_changes_peers(self):
        a = self.daemon("a", udp_port=free_port())
        b = self.daemon("b", udp_port=free_port())
        c = self.daemon("c", udp_port=free_port())
        e = self.daemon("e", udp_port=free_port())
        d = self.daemon("d", udp_port=free_port())
        for other in (b, c, e):
            a.add_peer(other, [other.udp_endpoint()])
            other.add_peer(a, [a.udp_endpoint()])
        d.add_peer(a, [a.udp_endpoint()])
        for x in (a, b, c, e, d):
            x.start()
        for name in ("b", "c", "e"):
            wait_until(lambda: up(a, name), 20, f"a-{name} up")
        token_b = a.peer("b")["token"]
        token_e = a.peer("e")["token"]

        # New config: c removed, d added, e's keepalive changed, b untouched.
        a.peers = [p for p in a.peers if p["name"] != "c"]
        next(p for p in a.peers if p["name"] == "e")["keepalive"] = 7
        a.add_peer(d, [d.udp_endpoint()])
        a.udp_port_before = a.udp_port
        a.write_config()
        result = a.ctl("reload")
        self.assertEqual(result["added"], ["d"])
        self.assertEqual(result["removed"], ["c"])
        self.assertEqual(result["changed"], ["e"])
        self.assertEqual(result["unchanged"], ["b"])
        self.assertEqual(result["restart_required"], [])

        wait_until(lambda: up(a, "d"), 20, "the added peer up")
        names = [p["name"] for p in a.ctl("peers")]
        self.assertNotIn("c", names)
        out = subprocess.run([E3XCTL, "-s", a.socket, "--json", "peer", "c"],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(json.loads(out.stdout)["error"]["code"], "unknown_peer", out.stdout)
        pe = a.peer("e")
        self.assertEqual(pe["keepalive"], 7)
        self.assertEqual(pe["token"], token_e, "a changed keepalive must not reset the exchange")
        self.assertEqual(a.peer("b")["token"], token_b, "an unchanged peer keeps its token")
        self.assertEqual(a.peer("b")["state"], "up")

        # SIGHUP does the same; a listen change is reported as needing a restart.
        a.peers = [p for p in a.peers if p["name"] != "d"]
        a.udp_port = free_port()
        a.write_config()
        a.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "d" not in [p["name"] for p in a.ctl("peers")], 10,
                   "SIGHUP to remove d")
        self.assertIn("udp.listen", a.log_text())
        self.assertEqual(a.peer("b")["token"], token_b)

    def test_a_corrected_endpoint_is_tried_at_once(self):
        a = self.daemon("a", udp_port=free_port())
        b = self.daemon("b", udp_port=free_port())
        a.add_peer(b, [f"udp://127.0.0.1:{free_port()}"])  # wrong port: nobody answers
        b.add_peer(a)  # B only answers
        a.start()
        b.start()
        wait_until(lambda: a.peer("b")["state"] == "connecting", 10, "A trying the wrong port")
        a.peers[0]["endpoints"] = [b.udp_endpoint()]
        a.write_config()
        self.assertEqual(a.ctl("reload")["changed"], ["b"])
        # At once, not after the first attempt's handshake timeout (30 s) and any backoff: the
        # limit leaves room for a loaded machine while staying well under 30 s.
        wait_until(lambda: up(a, "b"), 20, "up on the corrected endpoint")

    def test_broken_config_on_reload_keeps_the_running_one(self):
        a = self.daemon("a", udp_port=free_port())
        b = self.daemon("b", udp_port=free_port())
        a.add_peer(b, [b.udp_endpoint()])
        b.add_peer(a, [a.udp_endpoint()])
        a.start()
        b.start()
        wait_until(lambda: up(a, "b"), 20, "up")
        token = a.peer("b")["token"]
        with open(a.config_path, "a") as f:
            f.write("[udp]\nkeepalve = 3\n")
        out = subprocess.run([E3XCTL, "-s", a.socket, "reload"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 1)
        self.assertIn("bad_config", out.stderr)
        self.assertIn(a.config_path, out.stderr)
        self.assertTrue(out.stderr.rstrip().endswith("; the running configuration is kept"),
                        out.stderr)
        self.assertEqual(a.peer("b")["token"], token)
        self.assertEqual(a.peer("b")["state"], "up")
        # SIGHUP says the same in the log.
        a.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "the running configuration is kept" in a.log_text(), 10,
                   "the failed SIGHUP reload in the log")
        self.assertRegex(a.log_text(), r"reload failed: .*e3xd\.toml:\d+: .*; the running "
                         r"configuration is kept\n")

    def test_reload_reports_every_setting_it_applied(self):
        a = self.daemon("a", udp_port=free_port())
        a.start()
        a.log_level = "info"  # the harness starts daemons at debug
        a.keepalive = 10
        a.extra_config = "[messages]\nmax_payload = 1000"
        a.write_config()
        result = a.ctl("reload")
        self.assertEqual(result["applied"], ["log_level: debug -> info", "udp.keepalive: 25 -> 10",
                                             "messages.max_payload: 61440 -> 1000"])
        log = a.log_text()
        for change in result["applied"]:
            self.assertIn(f"reload: {change}\n", log)
        # e3xctl reload prints them.
        a.log_level = "debug"
        a.write_config()
        out = subprocess.run([E3XCTL, "-s", a.socket, "reload"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("settings applied:\n  log_level: info -> debug\n", out.stdout)
        # A reload that changes nothing applies nothing.
        self.assertEqual(a.ctl("reload")["applied"], [])


if __name__ == "__main__":
    unittest.main()
