"""Crash test (issue 4): during a burst of 1,000 sends and deliveries both daemons are killed
with SIGKILL at random moments, at least 20 times, and restarted. At the end every message
e3xd accepted is in B's inbox exactly once, byte-identical, and A's outbox is empty.

The sender retries a send that got no answer (the daemon was dead or died mid-request) with
the same --id, as a careful client does; a repeated id is one message, so retries cannot
create duplicates."""
import base64
import random
import threading
import time
import unittest

from harness import DaemonTestCase, connected_pair, wait_until

MESSAGES = 1000
MIN_KILLS = 20
# How long the sender waits, in all, for the killer to catch up (see below).
CATCH_UP_LIMIT_S = 300


class Crash(DaemonTestCase):
    def test_sigkill_both_daemons_during_a_burst(self):
        rng = random.Random(2026)
        a, b = connected_pair(self)
        a.start()
        b.start()
        bodies = {f"c{i:04d}": bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 1100)))
                  for i in range(MESSAGES)}
        lock = threading.Lock()  # a daemon is restarted by one thread at a time
        kills = []
        kills_while_sending = []
        sending_done = threading.Event()
        stop = threading.Event()
        killer_error = []

        def killer():
            try:
                while not stop.is_set():
                    time.sleep(rng.uniform(0.05, 0.6))
                    victims = rng.choice([[a], [b], [a, b]])
                    with lock:
                        for d in victims:
                            d.kill()
                        kills.append("+".join(d.name for d in victims))
                        if not sending_done.is_set():
                            kills_while_sending.append(kills[-1])
                        time.sleep(rng.uniform(0, 0.3))
                        for d in victims:
                            d.start()
                    if sending_done.is_set() and len(kills) >= MIN_KILLS:
                        return
            except Exception as error:  # reported by the main thread
                killer_error.append(error)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        accepted = 0
        retries = 0
        catch_up_deadline = time.monotonic() + CATCH_UP_LIMIT_S
        for index, (message_id, body) in enumerate(bodies.items()):
            # The kills must fall inside the burst of sends however fast or slow this machine
            # is (a restart under AddressSanitizer on a loaded machine takes seconds): before
            # message i the sender waits until a proportional share of MIN_KILLS has happened,
            # bounded by a generous limit, instead of assuming how fast anything runs.
            wanted = -(-(index + 1) * MIN_KILLS // MESSAGES)  # ceil
            while len(kills_while_sending) < wanted and time.monotonic() < catch_up_deadline \
                    and not killer_error:
                time.sleep(0.05)
            while True:
                try:
                    reply = a.request("send", timeout=5, peer="b", id=message_id,
                                      base64=base64.b64encode(body).decode())
                except OSError:
                    retries += 1  # not answered: maybe stored, maybe not; send it again
                    time.sleep(0.02)
                    continue
                self.assertTrue(reply["ok"], reply)
                accepted += 1
                break
            # Paced so the burst of sends (and deliveries) spans many kills.
            time.sleep(rng.uniform(0, 0.02))
        sending_done.set()
        thread.join(timeout=120)
        stop.set()
        self.assertFalse(killer_error, killer_error)
        self.assertGreaterEqual(len(kills), MIN_KILLS)
        self.assertGreaterEqual(len(kills_while_sending), MIN_KILLS,
                                "the kills must fall inside the burst of sends")
        print(f"\n{accepted} sends accepted ({retries} retried), {len(kills)} kills "
              f"({len(kills_while_sending)} while sending): {', '.join(kills)}")

        wait_until(lambda: a.result("outbox") == [], 180, "A's outbox to empty after the crashes")
        listing = b.result("inbox")
        ids = [entry["id"] for entry in listing]
        self.assertEqual(len(ids), len(set(ids)), "a message is in the inbox twice")
        self.assertEqual(set(ids), set(bodies), "the inbox does not hold exactly what was sent")
        for message_id in ids:
            read = b.result("inbox_read", id=message_id)
            self.assertEqual(base64.b64decode(read["body_base64"]), bodies[message_id],
                             f"{message_id} differs")
        for d in (a, b):
            self.assertEqual(d.result("status")["messages"]["corrupt_files"], 0)


if __name__ == "__main__":
    unittest.main()
