"""Mailboxes (PROTOCOL.md 14, issue 14) with real processes on loopback: H is a mailbox for A
and B, which are never running at the same time.

- never online together: A deposits 100 messages at H and stops; B starts, receives all 100
  exactly once and byte-identical, leaves its receipts at H and stops; A starts again and its
  outbox empties from the receipts it picks up at H;
- crashes: H SIGKILLed between deposit and pickup, B SIGKILLed in the middle of a pickup:
  nothing lost, nothing delivered twice, nothing corrupt;
- the mailbox cannot cheat: a byte H alters makes B drop the packet (counted) and the message
  still arrives once A reaches B directly; a packet H replays after B took it is a duplicate;
  a sender H does not serve, and a deposit over quota, get "refused" and the sender keeps the
  message;
- expiry: a deposited message whose expiry passes is removed from H, counted, and shown as
  expired in A's outbox.

H is reached over TCP: a deposit carries the whole OUTER packet inside one channel packet, so
messages close to the UDP limit fit only on a TCP path (docs/messages.md, "Mailboxes")."""
import base64
import hashlib
import json
import os
import random
import socket
import sqlite3
import subprocess
import unittest

from harness import E3XCTL, DaemonTestCase, free_port, wait_until

MAILBOX = '[mailbox]\nenable = true\nallow = ["a", "b"]\n'


class Mailbox(DaemonTestCase):
    def node(self, name, extra_config=""):
        return self.daemon(name, udp_port=free_port(),
                           tcp_port=free_port(socket.SOCK_STREAM), extra_config=extra_config)

    def trio(self, h_config=MAILBOX, a_reaches_b=False, deposit_after=30):
        """H (mailbox) and A, B that reach H over TCP and name it as each other's mailbox.
        A and B know each other's key; with a_reaches_b they also have each other's
        endpoints (else only B's TCP endpoint, so A may send it large messages)."""
        messages = f"[messages]\ndeposit_after = {deposit_after}\n"
        h = self.node("h", h_config)
        a = self.node("a", messages)
        b = self.node("b", messages)
        h.add_peer(a)
        h.add_peer(b)
        for one, other in ((a, b), (b, a)):
            one.add_peer(h, [h.tcp_endpoint()])
            endpoints = [other.udp_endpoint()] if a_reaches_b else [other.tcp_endpoint()]
            one.add_peer(other, endpoints, mailbox=["h"])
        return h, a, b

    @staticmethod
    def send(sender, peer, body, message_id):
        if isinstance(body, str):
            reply = sender.request("send", peer=peer, text=body, id=message_id)
        else:
            reply = sender.request("send", peer=peer, id=message_id,
                                   base64=base64.b64encode(body).decode())
        assert reply.get("ok"), reply
        return reply["result"]

    @staticmethod
    def outbox(daemon):
        return daemon.result("outbox")

    @staticmethod
    def inbox_bodies(daemon):
        bodies = {}
        for row in daemon.result("inbox"):
            read = daemon.result("inbox_read", id=row["id"], peer=row["peer"])
            assert row["id"] not in bodies, f"{row['id']} twice in the inbox"
            bodies[row["id"]] = base64.b64decode(read["body_base64"])
        return bodies

    @staticmethod
    def human(daemon, *args):
        """What a person sees: e3xctl without --json."""
        out = subprocess.run([E3XCTL, "-s", daemon.socket, *args], capture_output=True,
                             text=True, timeout=15)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def held(self, h):
        return {r["peer"]: r["messages"] for r in h.result("mailbox")["recipients"]}

    def messages_status(self, daemon):
        return daemon.ctl("status")["messages"]

    @staticmethod
    def running(daemon):
        return daemon.process is not None and daemon.process.poll() is None

    def test_never_online_together(self):
        rng = random.Random(14)
        h, a, b = self.trio()
        h.start()
        a.start()
        sent = {}
        for i in range(98):
            if i % 2:
                body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 1200)))
            else:
                body = "text %d " % i + "x" * rng.randrange(0, 1100)
            self.send(a, "b", body, f"m{i:03d}")
            sent[f"m{i:03d}"] = body.encode() if isinstance(body, str) else body
        # One exactly as large as one UDP datagram allows (1472 bytes on the wire, cloaked):
        # it crosses H in pieces (packet_pieces.hpp).
        expires = self.outbox(a)[0]["expires"]
        head = json.dumps({"type": "msg", "from": a.hashname, "id": "udpmax",
                           "expires": expires}, separators=(",", ":"))
        udp_max = 1472 - 8 - (2 + 1 + 4 + 32 + 16 + 16 + 2) - len(head)
        self.assertGreater(udp_max, 1200)
        sent["udpmax"] = os.urandom(udp_max)
        self.send(a, "b", sent["udpmax"], "udpmax")
        # One larger than any UDP datagram: B is configured with a TCP endpoint.
        big = os.urandom(30000)
        self.send(a, "b", big, "big")
        sent["big"] = big
        wait_until(lambda: all(m["state"] == "deposited" for m in self.outbox(a)) and
                   len(self.outbox(a)) == 100, 60, "all 100 deposited at H")
        self.assertEqual(self.held(h), {"b": 100})
        shown = self.outbox(a)
        self.assertTrue(all(m["deposited"]["mailbox"] == "h" for m in shown), shown)
        self.assertIn("deposited at h", self.human(a, "outbox"))
        listing = self.human(h, "mailbox")
        self.assertRegex(listing, r"\bb\s+100\b", listing)
        a.stop()
        self.assertFalse(self.running(a))

        b.start()
        self.assertFalse(self.running(a), "A and B must never run together")
        wait_until(lambda: len(b.result("inbox")) == 100, 60, "B to receive all 100")
        received = self.inbox_bodies(b)
        self.assertEqual(set(received), set(sent))
        for message_id, body in sent.items():
            self.assertEqual(received[message_id], body, message_id)
        self.assertTrue(all(row["via"] == "mailbox" and row["mailbox"] == "h"
                            for row in b.result("inbox")))
        self.assertIn("via h", self.human(b, "inbox"))
        wait_until(lambda: self.messages_status(b)["receipts_deposited"] >= 100, 60,
                   "B to leave its 100 receipts at H")
        wait_until(lambda: self.held(h) == {"a": 100}, 10, "H to hold only A's receipts")
        self.assertEqual(self.messages_status(b)["duplicates"], 0)
        b.stop()
        self.assertFalse(self.running(b))

        a.start()
        self.assertFalse(self.running(b), "A and B must never run together")
        wait_until(lambda: self.outbox(a) == [], 60, "A's outbox to empty from the receipts")
        self.assertEqual(self.messages_status(a)["delivered"], 100)
        wait_until(lambda: self.held(h) == {}, 10, "H to hold nothing")
        self.assertEqual(h.result("mailbox")["stats"]["picked_up"], 200)
        self.assertFalse(self.running(b))

    def test_crashes_of_the_mailbox_and_of_the_recipient_lose_nothing(self):
        h, a, b = self.trio()
        h.start()
        a.start()
        sent = {}
        for i in range(300):
            body = os.urandom(1000)
            self.send(a, "b", body, f"c{i:03d}")
            sent[f"c{i:03d}"] = body
        wait_until(lambda: self.held(h).get("b") == 300, 60, "300 deposited")
        # H dies between deposit and pickup.
        h.kill()
        h.start()
        self.assertEqual(self.held(h), {"b": 300})
        a.stop()
        # B dies in the middle of its pickup.
        b.start()
        wait_until(lambda: 0 < len(b.result("inbox")), 30, "the pickup to start", interval=0.01)
        b.kill()
        partial = self.held(h).get("b", 0)
        b.start()
        wait_until(lambda: len(b.result("inbox")) == 300, 60, "all 300 at B")
        self.assertEqual(self.inbox_bodies(b), sent)
        status = self.messages_status(b)
        self.assertEqual(status["corrupt_files"], 0)
        self.assertEqual(h.result("mailbox")["stats"]["corrupt"], 0)
        print(f"B killed with {partial} of 300 still at H", flush=True)
        wait_until(lambda: self.held(h).get("b", 0) == 0, 10, "H to hand over everything")
        # Receipts for what B took before it was killed are noted again at its restart.
        wait_until(lambda: self.messages_status(b)["receipts_to_deposit"] == 0 and
                   self.messages_status(b)["receipts_deposited"] > 0, 60,
                   "B to leave its receipts at H")
        b.stop()
        a.start()
        wait_until(lambda: self.outbox(a) == [], 60, "A's outbox to empty")

    def flip_a_stored_byte(self, h):
        """As a hostile H would: change one byte of the held packet and its checksum."""
        db = sqlite3.connect(os.path.join(h.state_dir, "mailbox.db"))
        with db:
            (row_id, packet), = db.execute("SELECT id, packet FROM mail").fetchall()
            altered = bytearray(packet)
            altered[len(altered) // 2] ^= 0x01
            db.execute("UPDATE mail SET packet = ?, sha256 = ? WHERE id = ?",
                       (bytes(altered), hashlib.sha256(altered).digest(), row_id))
        db.close()

    def test_an_altered_packet_is_dropped_and_the_message_still_arrives_directly(self):
        h, a, b = self.trio(a_reaches_b=True)
        h.start()
        a.start()
        self.send(a, "b", "for b, through h", "one")
        wait_until(lambda: self.outbox(a)[0]["state"] == "deposited", 30, "the deposit")
        a.stop()
        h.stop()
        self.flip_a_stored_byte(h)
        h.start()
        b.start()
        wait_until(lambda: self.messages_status(b)["mail_dropped"] == 1, 30,
                   "B to drop the altered packet")
        self.assertEqual(b.result("inbox"), [])
        wait_until(lambda: self.held(h) == {}, 10, "H to forget what B acknowledged")
        a.start()
        wait_until(lambda: self.outbox(a) == [], 30, "direct delivery once A reaches B")
        self.assertEqual(self.inbox_bodies(b), {"one": b"for b, through h"})

    def test_a_replayed_packet_is_a_duplicate(self):
        h, a, b = self.trio()
        h.start()
        a.start()
        self.send(a, "b", "only once", "once")
        wait_until(lambda: self.held(h) == {"b": 1}, 30, "the deposit")
        a.stop()
        h.stop()
        db_path = os.path.join(h.state_dir, "mailbox.db")
        db = sqlite3.connect(db_path)
        columns = [c[1] for c in db.execute("PRAGMA table_info(mail)")]
        saved = db.execute("SELECT * FROM mail").fetchall()
        db.close()
        h.start()
        b.start()
        wait_until(lambda: len(b.result("inbox")) == 1, 30, "the message at B")
        wait_until(lambda: self.held(h) == {}, 10, "the pickup")
        h.stop()
        db = sqlite3.connect(db_path)
        with db:
            db.executemany(f"INSERT INTO mail ({', '.join(columns)}) VALUES "
                           f"({', '.join('?' for _ in columns)})", saved)
        db.close()
        h.start()
        wait_until(lambda: self.messages_status(b)["duplicates"] == 1, 30,
                   "B to recognise the replay")
        self.assertEqual(len(b.result("inbox")), 1)

    def test_refusals_leave_the_message_with_its_sender(self):
        # H serves only B as a recipient and A as a sender, with a small per-sender quota.
        h, a, b = self.trio(h_config='[mailbox]\nenable = true\nallow = ["a", "b"]\n'
                                     'quota_per_sender = "64 KiB"\n')
        c = self.node("c", "[messages]\ndeposit_after = 0\n")
        h.add_peer(c)
        c.add_peer(h, [h.tcp_endpoint()])
        c.add_peer(b, [b.tcp_endpoint()], mailbox=["h"])
        h.start()
        c.start()
        self.send(c, "b", "from a peer h does not serve", "c1")
        wait_until(lambda: "refused" in (self.outbox(c)[0]["last_error"] or ""), 30,
                   "H to refuse C")
        self.assertEqual(self.outbox(c)[0]["state"], "pending")
        self.assertEqual(h.result("mailbox")["stats"]["refused_policy"], 1)
        self.assertEqual(self.held(h), {})
        a.start()
        for i in range(80):  # 80 KB: more than the 64 KiB A may leave at H
            self.send(a, "b", os.urandom(1000), f"q{i:02d}")
        # Every message is tried once: deposited, or refused over the quota.
        wait_until(lambda: all(m["state"] == "deposited" or "refused" in (m["last_error"] or "")
                               for m in self.outbox(a)), 60, "every deposit to be answered")
        self.assertGreater(h.result("mailbox")["stats"]["refused_quota"], 0)
        rows = self.outbox(a)
        self.assertEqual(len(rows), 80)
        refused = [m for m in rows if m["state"] == "pending"]
        self.assertTrue(refused and all("refused" in (m["last_error"] or "") for m in refused),
                        refused)
        self.assertLessEqual(h.result("mailbox")["bytes"], 64 * 1024)

    def test_a_deposited_message_expires_at_h_and_in_the_outbox(self):
        h, a, b = self.trio()
        a.extra_config += "expiry = 60\n"
        h.start()
        a.start()
        self.send(a, "b", "short-lived", "brief")
        wait_until(lambda: self.held(h) == {"b": 1}, 30, "the deposit")
        wait_until(lambda: self.held(h) == {}, 90, "H to remove it at its expiry")
        self.assertEqual(h.result("mailbox")["stats"]["expired"], 1)
        wait_until(lambda: self.outbox(a)[0]["state"] == "expired", 10, "A to show it expired")


if __name__ == "__main__":
    unittest.main()
