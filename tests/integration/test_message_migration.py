"""An old one-file-per-message store (state_dir/outbox/*.msg, state_dir/inbox/*.msg, the
format of daemon/modules/messages/message_record.hpp) is moved into messages.db when e3xd
first starts: undelivered messages are still delivered, delivered ids are still remembered,
unacknowledged messages are still in the inbox, and a tombstone still makes a repeat a
duplicate (docs/messages.md, "Storage")."""
import base64
import hashlib
import json
import os
import struct
import time
import unittest

from harness import DaemonTestCase, connected_pair, wait_until


def old_record(meta, body=b""):
    text = json.dumps(meta, separators=(",", ":")).encode()
    out = b"E3XMSG1\n" + struct.pack(">I", len(text)) + text + struct.pack(">I", len(body)) + body
    return out + hashlib.sha256(out).digest()


def write_old(directory, name, meta, body=b""):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name + ".msg"), "wb") as f:
        f.write(old_record(meta, body))


def sha_hex(body):
    return hashlib.sha256(body).hexdigest()


def inbox_key(sender, message_id, body):
    return hashlib.sha256(sender.encode() + b"\0" + message_id.encode() + b"\0" +
                          sha_hex(body).encode()).hexdigest()[:32]


def send(daemon, peer, body, **args):
    return daemon.request("send", peer=peer, base64=base64.b64encode(body).decode(), **args)


class Migration(DaemonTestCase):
    def test_an_old_store_is_moved_in_and_keeps_working(self):
        a, b = connected_pair(self)
        now = int(time.time())
        pending, done, acked, unread = b"still to send", b"delivered long ago", b"read", b"unread"
        outbox = os.path.join(a.state_dir, "outbox")
        for order, (message_id, body, delivered) in enumerate(
                [("old-pending", pending, None), ("old-done", done, now - 60)], start=1):
            meta = {"id": message_id, "peer": b.hashname, "type": "msg", "order": order,
                    "created": now - 120, "expires": now + 3600, "sha256": sha_hex(body)}
            if delivered:
                meta.update(delivered=delivered, bytes=len(body))
            write_old(outbox, message_id, meta, b"" if delivered else body)
        inbox = os.path.join(b.state_dir, "inbox")
        base = {"from": a.hashname, "type": "msg", "via": "network", "received": now - 100,
                "keep_until": now + 3600}
        write_old(inbox, inbox_key(a.hashname, "old-acked", acked),
                  dict(base, id="old-acked", sha256=sha_hex(acked), order=1, acked=True,
                       acked_at=now - 50, bytes=len(acked)))
        write_old(inbox, inbox_key(a.hashname, "old-unread", unread),
                  dict(base, id="old-unread", sha256=sha_hex(unread), order=2,
                       head={"type": "msg", "expires": now + 3600}), unread)

        a.start()
        listing = a.result("outbox", all=True)
        self.assertEqual([(m["id"], m["state"]) for m in listing],
                         [("old-pending", "pending"), ("old-done", "delivered")])
        # A delivered id is still remembered: the same message again is a duplicate.
        again = send(a, "b", done, id="old-done")
        self.assertTrue(again["ok"], again)
        self.assertTrue(again["result"]["duplicate"])
        self.assertIn("delivered", again["result"])
        b.start()
        wait_until(lambda: a.result("outbox") == [], 60, "the old undelivered message to arrive")
        ids = sorted(m["id"] for m in b.result("inbox"))
        self.assertEqual(ids, ["old-pending", "old-unread"])
        read = b.result("inbox_read", id="old-unread")
        self.assertEqual(base64.b64decode(read["body_base64"]), unread)
        # The old tombstone makes a repeat of the acknowledged message a duplicate: it is
        # acknowledged again (A's outbox empties) and not stored.
        duplicates = b.result("status")["messages"]["duplicates"]
        repeat = send(a, "b", acked, id="old-acked")
        self.assertTrue(repeat["ok"], repeat)
        wait_until(lambda: a.result("outbox") == [], 60, "the repeat to be acknowledged")
        self.assertEqual(sorted(m["id"] for m in b.result("inbox")), ["old-pending", "old-unread"])
        self.assertEqual(b.result("status")["messages"]["duplicates"], duplicates + 1)
        self.assertEqual(b.result("status")["messages"]["inbox_tombstones"], 1)
        # The files are gone, the database holds it all, and a restart changes nothing.
        for d in (a, b):
            self.assertTrue(os.path.exists(os.path.join(d.state_dir, "messages.db")))
            for box in ("outbox", "inbox"):
                self.assertFalse(os.path.exists(os.path.join(d.state_dir, box)), f"{d.name}/{box}")
            self.assertEqual(d.result("status")["messages"]["corrupt_files"], 0)
        b.stop()
        b.start()
        self.assertEqual(sorted(m["id"] for m in b.result("inbox")), ["old-pending", "old-unread"])


if __name__ == "__main__":
    unittest.main()
