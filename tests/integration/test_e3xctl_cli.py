"""e3xctl's command line as people meet it (issue 15, "The command line and the logs"): a
mistyped command gets a did-you-mean, under --json every error is a JSON document, numbers
in --json output are plain decimal, `ping --count N` probes N times with a summary, message
ids are taken by unique prefix as git takes commits, and `inbox ack` takes several ids or
--all."""
import json
import os
import re
import subprocess
import tempfile
import time
import unittest

from harness import E3XCTL, DaemonTestCase, both_up, connected_pair, wait_until


def e3xctl(*args, socket=None):
    command = [E3XCTL] + (["-s", socket] if socket else []) + list(args)
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


class WithoutDaemon(unittest.TestCase):
    def test_a_mistyped_command_gets_a_suggestion(self):
        out = e3xctl("stauts")
        self.assertEqual(out.returncode, 2)
        self.assertIn("e3xctl: unknown command 'stauts' (did you mean 'status'?); commands: "
                      "status, peers,", out.stderr)
        out = e3xctl("inbox", "raed", "3f2a")
        self.assertEqual(out.returncode, 2)
        self.assertIn("unknown command 'inbox raed' (did you mean 'inbox read'?); commands of "
                      "'inbox': read, ack, import", out.stderr)
        # Nothing near: no guess, but the list.
        out = e3xctl("frobnicate")
        self.assertEqual(out.returncode, 2)
        self.assertIn("unknown command 'frobnicate'; commands: status", out.stderr)
        # Global options before the command do not confuse it.
        out = e3xctl("-s", "/nowhere.sock", "--json", "peerz")
        self.assertIn("did you mean 'peers'?", json.loads(out.stdout)["error"]["message"])

    def test_keygen_and_status_label_the_hashname_and_the_key(self):
        # Both are 52 base32 characters: each is labelled, and the key says what it is for.
        with tempfile.TemporaryDirectory() as work:
            identity = os.path.join(work, "id.json")
            out = e3xctl("keygen", "--out", identity)
            self.assertEqual(out.returncode, 0, out.stderr)
            hashname = e3xctl("hashname", "--identity", identity).stdout.strip()
            with open(identity) as f:
                key = json.load(f)["3a"]
            self.assertEqual(out.stdout, f"hashname: {hashname}\n"
                             f"key: {key} (what peers put in their [[peer]] key)\n")

    def test_errors_under_json_are_json_documents_on_stdout(self):
        cases = [
            (("--json", "-s", "/nonexistent/control.sock", "status"), 3, "unreachable"),
            (("--json", "ping"), 2, "usage"),  # PEER missing
            (("--json", "hashname", "--key", "not-a-key"), 2, "usage"),
            (("--json", "open", "--identity", "/nonexistent.json", "--from",
              "a" * 52, "--in", "/dev/null"), 4, "local"),
        ]
        for args, code, name in cases:
            out = e3xctl(*args)
            self.assertEqual(out.returncode, code, (args, out.stdout, out.stderr))
            document = json.loads(out.stdout)
            self.assertEqual(set(document), {"error"}, out.stdout)
            self.assertEqual(document["error"]["code"], name, out.stdout)
            self.assertTrue(document["error"]["message"], out.stdout)
        # Without --json the same errors are a line on stderr and nothing on stdout.
        out = e3xctl("-s", "/nonexistent/control.sock", "status")
        self.assertEqual((out.returncode, out.stdout), (3, ""))
        self.assertTrue(out.stderr.startswith("e3xctl: cannot reach e3xd"), out.stderr)


class WithDaemons(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.a, self.b = connected_pair(self)
        self.a.start()
        self.b.start()
        wait_until(lambda: both_up(self.a, self.b), 20, "both up")

    def test_status_labels_the_hashname_and_the_key(self):
        out = e3xctl("status", socket=self.a.socket)
        self.assertIn(f"\n  hashname: {self.a.hashname} (our name; not what peers configure)\n",
                      out.stdout)
        self.assertIn(f"\n  key: {self.a.key} (what peers put in their [[peer]] key)\n",
                      out.stdout)

    def test_daemon_errors_under_json_keep_the_daemons_code(self):
        out = e3xctl("--json", "peer", "nobody", socket=self.a.socket)
        self.assertEqual(out.returncode, 1)
        error = json.loads(out.stdout)["error"]
        self.assertEqual(error["code"], "unknown_peer")
        self.assertIn("nobody", error["message"])
        out = e3xctl("peer", "nobody", socket=self.a.socket)
        self.assertEqual(out.stdout, "")
        self.assertTrue(out.stderr.startswith("e3xctl: unknown_peer: "), out.stderr)

    def test_json_numbers_are_plain_decimal(self):
        wait_until(lambda: self.a.peer("b")["rtt_ms"] is not None, 20, "a round trip")
        for args in (("peers",), ("peer", "b"), ("ping", "b")):
            out = e3xctl("--json", *args, socket=self.a.socket)
            self.assertEqual(out.returncode, 0, out.stderr)
            rtt = re.search(r'"rtt_ms":([^,}\]]+)', out.stdout).group(1)
            self.assertRegex(rtt, r"^\d+\.\d+$", out.stdout)  # 0.098, never 9.8E-2
            json.loads(out.stdout)
        # The socket itself speaks the same way.
        with_events = self.a.request("peer", peer="b")
        self.assertIsInstance(with_events["result"]["rtt_ms"], float)

    def test_ping_count_probes_each_second_and_sums_up(self):
        began = time.monotonic()
        out = e3xctl("ping", "b", "--count", "3", socket=self.a.socket)
        took = time.monotonic() - began
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(len([l for l in lines if l.startswith("b sees us at udp4 127.0.0.1:")]),
                         3, out.stdout)
        self.assertEqual(lines[-2], "--- b: 3 sent, 3 answered, 0% lost", out.stdout)
        self.assertRegex(lines[-1], r"^rtt min/avg/max [\d.]+/[\d.]+/[\d.]+ ms$")
        self.assertGreaterEqual(took, 2.0)  # a second apart
        out = e3xctl("--json", "ping", "b", "--count", "2", socket=self.a.socket)
        results = [json.loads(line) for line in out.stdout.splitlines()]
        self.assertEqual(len(results), 2)
        self.assertTrue(all("rtt_ms" in r and "path" in r for r in results), out.stdout)
        # A peer that is gone: every probe fails, with the daemon's reason, and exit 1.
        self.b.kill()
        out = e3xctl("ping", "b", "--count", "2", socket=self.a.socket)
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn("--- b: 2 sent, 0 answered, 100% lost", out.stdout)
        self.assertEqual(out.stderr.count("e3xctl: "), 2, out.stderr)
        out = e3xctl("ping", "b", "--count", "0", socket=self.a.socket)
        self.assertEqual(out.returncode, 2)

    def test_peers_short_is_one_line_per_peer(self):
        out = e3xctl("peers", "--short", socket=self.a.socket)
        self.assertEqual(out.returncode, 0, out.stderr)
        header, line = out.stdout.splitlines()
        self.assertEqual(header.split(), ["NAME", "HASHNAME", "STATE", "ENDPOINT", "HANDSHAKE",
                                          "RX", "TX", "RTT"])
        self.assertRegex(line, rf"^b +{self.b.hashname[:12]} +up +udp4 127\.0\.0\.1:"
                         rf"{self.b.udp_port} +\d+ s ago +")
        # The detailed view stays what `peers` prints without it.
        self.assertTrue(e3xctl("peers", socket=self.a.socket).stdout.startswith("peer: b ("))

    def send_and_wait(self, *ids):
        for id in ids:
            out = e3xctl("send", "b", "--text", f"body of {id}", "--id", id, socket=self.a.socket)
            self.assertEqual(out.returncode, 0, out.stderr)
        wait_until(lambda: sorted(m["id"] for m in self.b.result("inbox")) == sorted(ids), 20,
                   "the messages in b's inbox")

    def test_message_ids_by_unique_prefix(self):
        self.send_and_wait("7f3a01c2", "7f91aa00", "c4fe")
        # A unique prefix names the message; read writes its payload.
        out = e3xctl("inbox", "read", "7f3", socket=self.b.socket)
        self.assertEqual((out.returncode, out.stdout), (0, "body of 7f3a01c2"), out.stderr)
        # An ambiguous one names every candidate and does nothing.
        out = e3xctl("inbox", "ack", "7f", socket=self.b.socket)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stderr, "e3xctl: ambiguous: '7f' is ambiguous: it begins 2 message "
                         "ids: 7f3a01c2, 7f91aa00 (give more characters)\n")
        out = e3xctl("--json", "inbox", "read", "7f", socket=self.b.socket)
        self.assertEqual(json.loads(out.stdout)["error"]["code"], "ambiguous")
        # An unknown one says so.
        out = e3xctl("inbox", "read", "zz", socket=self.b.socket)
        self.assertEqual(out.returncode, 1)
        self.assertIn("unknown_message: the inbox holds no unacknowledged message 'zz'",
                      out.stderr)
        self.assertEqual(len(self.b.result("inbox")), 3)
        out = e3xctl("inbox", "ack", "7f9", socket=self.b.socket)
        self.assertEqual(out.stdout, "acknowledged and deleted message 7f91aa00 from a\n",
                         out.stderr)
        self.assertEqual(sorted(m["id"] for m in self.b.result("inbox")), ["7f3a01c2", "c4fe"])
        # The outbox takes prefixes too: cancel messages waiting for a peer that is gone.
        self.b.stop()
        for id in ("job-one", "job-two"):
            self.assertEqual(e3xctl("send", "b", "--text", "x", "--id", id,
                                    socket=self.a.socket).returncode, 0)
        out = e3xctl("outbox", "cancel", "job-", socket=self.a.socket)
        self.assertEqual(out.returncode, 1)
        self.assertIn("'job-' is ambiguous: it begins 2 message ids: job-one, job-two", out.stderr)
        out = e3xctl("outbox", "cancel", "job-t", socket=self.a.socket)
        # (a may have sent it before it noticed b was gone: then the line says so.)
        self.assertRegex(out.stdout, r"^cancelled message job-two(\n|; it was sent before)")
        self.assertEqual([m["id"] for m in self.a.result("outbox")], ["job-one"])
        out = e3xctl("outbox", "cancel", "nothing", socket=self.a.socket)
        self.assertIn("unknown_message", out.stderr)

    def test_inbox_ack_several_ids_or_all(self):
        self.send_and_wait("m-1", "m-2", "m-3", "n-1", "n-2")
        # One unknown id among several: nothing is acknowledged.
        out = e3xctl("inbox", "ack", "m-1", "nope", socket=self.b.socket)
        self.assertEqual(out.returncode, 1)
        self.assertIn("'nope'", out.stderr)
        self.assertEqual(len(self.b.result("inbox")), 5)
        out = e3xctl("inbox", "ack", "m-1", "m-3", "n-1", "m-1", socket=self.b.socket)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "acknowledged and deleted message m-1 from a\n"
                         "acknowledged and deleted message m-3 from a\n"
                         "acknowledged and deleted message n-1 from a\n")
        self.assertEqual(sorted(m["id"] for m in self.b.result("inbox")), ["m-2", "n-2"])
        # Ids and --all together, or neither, is a usage error.
        self.assertEqual(e3xctl("inbox", "ack", "--all", "m-2", socket=self.b.socket).returncode, 2)
        self.assertEqual(e3xctl("inbox", "ack", socket=self.b.socket).returncode, 2)
        out = e3xctl("--json", "inbox", "ack", "--all", socket=self.b.socket)
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertEqual(sorted(m["id"] for m in json.loads(out.stdout)["acked"]), ["m-2", "n-2"])
        self.assertEqual(self.b.result("inbox"), [])
        out = e3xctl("inbox", "ack", "--all", socket=self.b.socket)
        self.assertEqual(out.stdout, "nothing to acknowledge\n", out.stderr)


if __name__ == "__main__":
    unittest.main()
