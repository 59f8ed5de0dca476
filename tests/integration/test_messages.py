"""Messages that are never lost (issue 4, docs/messages.md): outbox, receipts, inbox, size
limits, quota and disk full, with real e3xd processes on loopback."""
import base64
import os
import random
import socket
import subprocess
import unittest

from harness import (DaemonTestCase, E3XCTL, both_up, connected_pair, free_port, wait_until)


def payload(rng, size):
    return bytes(rng.getrandbits(8) for _ in range(size))


def send(daemon, peer, body, **args):
    return daemon.request("send", peer=peer, base64=base64.b64encode(body).decode(), **args)


def send_until_refused(daemon, rng, attempts, size=1000):
    """Sends `size`-byte messages to b until one is refused; returns ({id: body} of the
    accepted ones, the refusal's error object or None)."""
    accepted = {}
    for _ in range(attempts):
        body = payload(rng, size)
        reply = send(daemon, "b", body)
        if not reply["ok"]:
            return accepted, reply["error"]
        accepted[reply["result"]["id"]] = body
    return accepted, None


def inbox_bodies(daemon):
    """{id: payload bytes} of every unacknowledged message in daemon's inbox."""
    out = {}
    for entry in daemon.result("inbox"):
        assert entry["id"] not in out, f"id {entry['id']} listed twice"
        read = daemon.result("inbox_read", id=entry["id"])
        out[entry["id"]] = base64.b64decode(read["body_base64"])
    return out


class Outbox(DaemonTestCase):
    def test_thousand_messages_to_a_stopped_peer_arrive_once_when_it_starts(self):
        rng = random.Random(4)
        a, b = connected_pair(self)
        a.start()
        sent = {}
        for i in range(1000):
            body = payload(rng, rng.randrange(0, 1200))
            reply = send(a, "b", body)
            self.assertTrue(reply["ok"], reply)
            self.assertFalse(reply["result"]["duplicate"])
            sent[reply["result"]["id"]] = body
        self.assertEqual(len(sent), 1000, "ids must be unique")
        outbox = a.result("outbox")
        self.assertEqual(len(outbox), 1000)
        self.assertTrue(all(m["state"] == "pending" and m["peer"] == "b" for m in outbox))
        # Stored before the answer: a SIGKILL now loses nothing.
        a.kill()
        a.start()
        self.assertEqual(len(a.result("outbox")), 1000)

        b.start()
        wait_until(lambda: a.result("outbox") == [], 120, "A's outbox to empty")
        received = inbox_bodies(b)
        self.assertEqual(set(received), set(sent))
        for message_id, body in sent.items():
            self.assertEqual(received[message_id], body, f"message {message_id} differs")
        status_a, status_b = a.result("status"), b.result("status")
        self.assertEqual(status_b["messages"]["inbox"], 1000)
        self.assertEqual(status_a["messages"]["outbox"], 0)
        self.assertEqual(status_a["messages"]["delivered"], 1000)

    def test_send_with_the_same_id_is_idempotent_and_a_conflict_is_refused(self):
        a, b = connected_pair(self)
        a.start()
        first = send(a, "b", b"one", id="job-1")
        again = send(a, "b", b"one", id="job-1")
        self.assertTrue(first["ok"] and again["ok"])
        self.assertTrue(again["result"]["duplicate"])
        conflict = send(a, "b", b"two", id="job-1")
        self.assertEqual(conflict["error"]["code"], "id_in_use")
        bad = send(a, "b", b"x", id="../etc")
        self.assertEqual(bad["error"]["code"], "bad_argument")
        self.assertEqual(len(a.result("outbox")), 1)
        b.start()
        wait_until(lambda: a.result("outbox") == [], 30, "delivery")
        # A retry after delivery (the client never saw the answer) is the same message: A
        # remembers the id until the message expires, answers "delivered", and sends nothing.
        retry = send(a, "b", b"one", id="job-1")
        self.assertTrue(retry["ok"], retry)
        self.assertTrue(retry["result"]["duplicate"])
        self.assertIsNotNone(retry["result"].get("delivered"))
        self.assertEqual(a.result("outbox"), [])
        # Another message under a delivered id is refused (PROTOCOL.md 10.7): the recipient
        # would otherwise be asked to tell a new message from a repeat by its id alone.
        reused = send(a, "b", b"different", id="job-1")
        self.assertEqual(reused["error"]["code"], "id_in_use", reused)
        self.assertIn("delivered", reused["error"]["message"])
        delivered = [m for m in a.result("outbox", all=True) if m["id"] == "job-1"]
        self.assertEqual([m["state"] for m in delivered], ["delivered"])
        self.assertEqual(inbox_bodies(b), {"job-1": b"one"})

    def test_cancel_and_list_with_attempts_and_errors(self):
        a, b = connected_pair(self)
        a.start()
        kept = send(a, "b", b"keep")["result"]["id"]
        dropped = send(a, "b", b"drop")["result"]["id"]
        cancelled = a.result("outbox_cancel", id=dropped)
        self.assertEqual(cancelled["id"], dropped)
        self.assertFalse(cancelled["may_have_arrived"])
        self.assertEqual(a.request("outbox_cancel", id=dropped)["error"]["code"], "unknown_message")
        self.assertEqual([m["id"] for m in a.result("outbox")], [kept])
        human = subprocess.run([E3XCTL, "-s", a.socket, "outbox"], capture_output=True, text=True)
        self.assertEqual(human.returncode, 0, human.stderr)
        self.assertIn(kept, human.stdout)
        self.assertIn("to b", human.stdout)
        b.start()
        wait_until(lambda: a.result("outbox") == [], 30, "delivery")
        self.assertEqual(set(inbox_bodies(b)), {kept})


class Inbox(DaemonTestCase):
    def test_read_ack_watch_and_the_e3xctl_commands(self):
        a, b = connected_pair(self)
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        watch_b = subprocess.Popen([E3XCTL, "-s", b.socket, "--json", "watch"],
                                   stdout=subprocess.PIPE, text=True)
        watch_a = subprocess.Popen([E3XCTL, "-s", a.socket, "--json", "watch"],
                                   stdout=subprocess.PIPE, text=True)
        try:
            for w in (watch_a, watch_b):
                self.assertIn("watching", w.stdout.readline())
            body = bytes(range(256)) * 4
            path = os.path.join(self.root, "body.bin")
            with open(path, "wb") as f:
                f.write(body)
            out = subprocess.run([E3XCTL, "-s", a.socket, "send", "b", "--file", path, "--id",
                                  "bin-1"], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("accepted message bin-1 for b", out.stdout)
            arrival = self.next_event(watch_b, "message")
            self.assertEqual(arrival["id"], "bin-1")
            self.assertEqual(base64.b64decode(arrival["body_base64"]), body)
            delivered = self.next_event(watch_a, "delivered")
            self.assertEqual(delivered["id"], "bin-1")
        finally:
            watch_a.kill()
            watch_b.kill()
        listing = b.result("inbox")
        self.assertEqual(len(listing), 1)
        self.assertEqual(listing[0]["peer"], "a")
        self.assertEqual(listing[0]["hashname"], a.hashname)
        self.assertEqual(listing[0]["bytes"], len(body))
        read = subprocess.run([E3XCTL, "-s", b.socket, "inbox", "read", "bin-1"],
                              capture_output=True)
        self.assertEqual(read.returncode, 0, read.stderr)
        self.assertEqual(read.stdout, body, "inbox read writes the payload byte for byte")
        ack = subprocess.run([E3XCTL, "-s", b.socket, "inbox", "ack", "bin-1"],
                             capture_output=True, text=True)
        self.assertEqual(ack.returncode, 0, ack.stderr)
        self.assertEqual(b.result("inbox"), [])
        missing = subprocess.run([E3XCTL, "-s", b.socket, "inbox", "read", "bin-1"],
                                 capture_output=True, text=True)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("unknown_message", missing.stderr)
        # Acknowledged, then sent again (a sender that never saw the receipt): not stored again.
        self.assertTrue(send(a, "b", body, id="bin-1")["ok"])
        wait_until(lambda: a.result("outbox") == [], 30, "the repeat to be acknowledged")
        self.assertEqual(b.result("inbox"), [])
        # And after a restart of B, still recognised.
        b.stop()
        b.start()
        wait_until(lambda: both_up(a, b), 30, "both up again")
        self.assertTrue(send(a, "b", body, id="bin-1")["ok"])
        wait_until(lambda: a.result("outbox") == [], 30, "the repeat to be acknowledged")
        self.assertEqual(b.result("inbox"), [])

    def next_event(self, watcher, kind):
        import json
        while True:
            line = watcher.stdout.readline()
            self.assertTrue(line, f"watch ended before a {kind} event")
            event = json.loads(line)
            if event.get("event") == kind:
                return event


class Size(DaemonTestCase):
    def test_large_messages_use_tcp_and_are_refused_without_it(self):
        rng = random.Random(7)
        a, b = connected_pair(self)
        a.peers[0]["endpoints"].append(b.tcp_endpoint())
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        big = payload(rng, 60 * 1024)
        reply = send(a, "b", big, id="big")
        self.assertTrue(reply["ok"], reply)
        wait_until(lambda: a.result("outbox") == [], 30, "the 60 KiB message to be delivered")
        self.assertEqual(inbox_bodies(b)["big"], big)
        too_big = send(a, "b", payload(rng, 60 * 1024 + 1))
        self.assertEqual(too_big["error"]["code"], "too_large")
        self.assertIn("61440", too_big["error"]["message"])

        # B has only A's UDP endpoint: a message over one datagram is refused up front.
        refused = send(b, "a", payload(rng, 2000))
        self.assertEqual(refused["error"]["code"], "too_large_for_path")
        self.assertIn("no TCP path", refused["error"]["message"])
        limit = int(refused["error"]["message"].split("at most ")[1].split(" ")[0])
        self.assertTrue(send(b, "a", payload(rng, limit))["ok"])
        self.assertEqual(send(b, "a", payload(rng, limit + 1))["error"]["code"],
                         "too_large_for_path")
        wait_until(lambda: b.result("outbox") == [], 30, "the largest UDP message")

    def test_max_payload_is_configurable(self):
        a, b = connected_pair(self)
        a.extra_config = "[messages]\nmax_payload = 100\n"
        a.start()
        self.assertTrue(send(a, "b", b"x" * 100)["ok"])
        refused = send(a, "b", b"x" * 101)
        self.assertEqual(refused["error"]["code"], "too_large")
        self.assertIn("the limit is 100 bytes", refused["error"]["message"])


class Store(DaemonTestCase):
    def test_quota_refuses_new_messages_and_keeps_the_accepted_ones(self):
        rng = random.Random(9)
        a, b = connected_pair(self)
        a.extra_config = "[messages]\nstore_quota = 65536\n"
        a.start()
        accepted, refusal = send_until_refused(a, rng, 100)
        self.assertIsNotNone(refusal, "the quota was never reached")
        self.assertEqual(refusal["code"], "quota_exceeded")
        self.assertIn("store_quota", refusal["message"])
        self.assertGreater(len(accepted), 50)
        b.start()
        wait_until(lambda: a.result("outbox") == [], 60, "delivery of everything accepted")
        self.assertEqual(inbox_bodies(b), accepted)
        # With the outbox empty there is room again.
        self.assertTrue(send(a, "b", b"after")["ok"])

    @unittest.skipUnless(os.geteuid() == 0, "mounting a small tmpfs needs root")
    def test_disk_full_refuses_with_disk_full_and_loses_nothing(self):
        rng = random.Random(10)
        a, b = connected_pair(self)
        mount = os.path.join(self.root, "small")
        os.makedirs(mount)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", mount])
        a.state_dir = mount
        a.start()
        accepted, refusal = send_until_refused(a, rng, 1000)
        self.assertIsNotNone(refusal, "the disk never filled")
        self.assertEqual(refusal["code"], "disk_full", refusal)
        self.assertIn("No space left on device", refusal["message"])
        self.assertGreater(len(accepted), 10)
        self.assertEqual(len(a.result("outbox")), len(accepted))
        b.start()
        wait_until(lambda: a.result("outbox") == [], 60, "delivery of everything accepted")
        self.assertEqual(inbox_bodies(b), accepted)


def run(*args, stdin=None):
    return subprocess.run([E3XCTL, *args], input=stdin, capture_output=True)


class Sealed(DaemonTestCase):
    """e3xctl seal / open need no daemon; inbox import hands a sealed file to one."""

    def test_round_trip_tampering_wrong_recipient_and_wrong_sender(self):
        a, b = connected_pair(self)
        c = self.daemon("c")
        payload_path = os.path.join(self.root, "payload.bin")
        body = bytes(range(256)) + b"sealed for b"
        with open(payload_path, "wb") as f:
            f.write(body)
        sealed_path = os.path.join(self.root, "for-b.e3x")
        out = run("seal", "--identity", a.identity, "--to", b.key, "--in", payload_path, "--out",
                  sealed_path, "--id", "file-1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(b"sealed message file-1", out.stderr)
        opened = run("open", "--identity", b.identity, "--from", a.key, "--in", sealed_path)
        self.assertEqual(opened.returncode, 0, opened.stderr)
        self.assertEqual(opened.stdout, body, "the payload goes to stdout byte for byte")
        self.assertIn(a.hashname.encode(), opened.stderr, "the sender's hashname goes to stderr")

        with open(sealed_path, "rb") as f:
            sealed = f.read()
        # Every tampered byte is rejected, with exit code 5 and nothing on stdout.
        for i in range(len(sealed)):
            bad = bytearray(sealed)
            bad[i] ^= 0x20
            refused = run("open", "--identity", b.identity, "--from", a.key, "--in", "-",
                          stdin=bytes(bad))
            self.assertEqual(refused.returncode, 5, f"byte {i}: {refused.stderr}")
            self.assertEqual(refused.stdout, b"", f"byte {i} leaked output")
        truncated = run("open", "--identity", b.identity, "--from", a.key, "--in", "-",
                        stdin=sealed[:-1])
        self.assertEqual(truncated.returncode, 5)

        wrong_recipient = run("open", "--identity", c.identity, "--from", a.key, "--in",
                              sealed_path)
        self.assertEqual(wrong_recipient.returncode, 5)
        self.assertIn(b"not sealed for this identity", wrong_recipient.stderr)
        wrong_sender = run("open", "--identity", b.identity, "--from", c.key, "--in", sealed_path)
        self.assertEqual(wrong_sender.returncode, 5)
        self.assertIn(b"wrong sender: it was sealed by " + a.hashname.encode(),
                      wrong_sender.stderr)

    def test_inbox_import(self):
        a, b = connected_pair(self)
        b.start()  # A never runs: the file travels by other means
        sealed_path = os.path.join(self.root, "note.e3x")
        out = run("seal", "--identity", a.identity, "--to", b.key, "--in", "-", "--out",
                  sealed_path, "--id", "usb-1", stdin=b"carried on a stick")
        self.assertEqual(out.returncode, 0, out.stderr)
        imported = run("-s", b.socket, "inbox", "import", sealed_path)
        self.assertEqual(imported.returncode, 0, imported.stderr)
        self.assertIn(b"imported message usb-1 from " + a.hashname.encode(), imported.stdout)
        again = run("-s", b.socket, "inbox", "import", sealed_path)
        self.assertIn(b"already in the inbox", again.stdout)
        listing = b.result("inbox")
        self.assertEqual([(m["id"], m["via"], m["peer"]) for m in listing], [("usb-1", "import", "a")])
        read = run("-s", b.socket, "inbox", "read", "usb-1")
        self.assertEqual(read.stdout, b"carried on a stick")
        # A file for someone else, or from a stranger, is refused with a reason.
        c = self.daemon("c")
        for_c = os.path.join(self.root, "for-c.e3x")
        run("seal", "--identity", a.identity, "--to", c.key, "--in", "-", "--out", for_c,
            stdin=b"x")
        refused = run("-s", b.socket, "inbox", "import", for_c)
        self.assertEqual(refused.returncode, 1)
        self.assertIn(b"bad_sealed_file", refused.stderr)
        from_stranger = os.path.join(self.root, "stranger.e3x")
        run("seal", "--identity", c.identity, "--to", b.key, "--in", "-", "--out", from_stranger,
            stdin=b"x")
        unknown = run("-s", b.socket, "inbox", "import", from_stranger)
        self.assertIn(b"unknown_peer", unknown.stderr)
        self.assertEqual(len(b.result("inbox")), 1)


class Expiry(DaemonTestCase):
    def test_an_undelivered_message_is_reported_as_expired_not_dropped(self):
        a, b = connected_pair(self)
        a.extra_config = "[messages]\nexpiry = 60\n"
        a.start()
        message_id = send(a, "b", b"too late")["result"]["id"]
        entry = wait_until(
            lambda: next((m for m in a.result("outbox") if m["state"] == "expired"), None), 90,
            "the message to expire")
        self.assertEqual(entry["id"], message_id)
        self.assertIn("expired undelivered", entry["last_error"])
        self.assertEqual(a.result("status")["messages"]["outbox_expired"], 1)
        self.assertIn(f"message {message_id} to b expired undelivered", a.log_text())
        # B comes up: an expired message is not sent any more, and stays until cancelled.
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        self.assertEqual(b.result("inbox"), [])
        a.result("outbox_cancel", id=message_id)
        self.assertEqual(a.result("outbox"), [])


if __name__ == "__main__":
    unittest.main()
