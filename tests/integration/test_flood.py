"""A short hostile load (issue 5, "Load and hostile traffic"): e3x_flood sends to B for a few
seconds per mode while A and B keep their session. The full 60 s-per-mode run with its table
is bench/run-flood.sh (docs/robustness.md)."""
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bench"))
import flood_load  # noqa: E402
from harness import E3XD, DaemonTestCase, free_port  # noqa: E402

# e3x_flood lives in the same build tree as e3xd: BUILD/daemon/e3xd -> BUILD/bench/e3x_flood.
FLOOD = os.environ.get("E3X_FLOOD_BIN", os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(E3XD))), "bench", "e3x_flood"))
SECONDS = int(os.environ.get("FLOOD_TEST_SECONDS", "5"))

# Unauthenticated traffic creates no per-packet state at B; the only tables it can fill are
# the learned paths and the handshake limiter's addresses (65,536 each, a few MiB at most).
# Here it comes from at most 257 addresses, so B's memory should not move by more than
# allocator noise; 32 MiB over the baseline leaves room for that without hiding a leak that
# grows with the packet count (millions of packets per run).
RSS_GROWTH_LIMIT_KIB = 32 * 1024
# Under AddressSanitizer freed memory sits in a quarantine (256 MiB by default) instead of
# being reused, so resident memory grows with the number of allocations however bounded the
# live state is: the bound is only checked in the normal build (tests/CMakeLists.txt sets
# E3X_SANITIZED from E3X_SANITIZE).
SANITIZED = os.environ.get("E3X_SANITIZED", "OFF").upper() in ("ON", "1", "TRUE")


class Flood(DaemonTestCase):
    @unittest.skipUnless(os.path.exists(FLOOD), f"{FLOOD} not built")
    def test_legitimate_peers_keep_their_session_under_flood(self):
        modes = [m for m in flood_load.MODES if m != "replay"]  # see the test below
        results = flood_load.run(self, FLOOD, SECONDS, 3, modes=modes, messages=5,
                                 speedtest_seconds=0)
        by_phase = {r["phase"]: r for r in results}
        for r in results:
            print(f"{r['phase']}: cpu {r['cpu_percent']:.0f}% rss {r['rss_kib_max']} KiB "
                  f"flood {r['flood'] and r['flood']['pps']} pps x25519/s "
                  f"{r['x25519_per_s']:.0f} drops {r['drops']}")
        for r in results:
            self.assertTrue(r["alive"], r["phase"])
            self.assertEqual(r["problems"], [], r["phase"])
            self.assertIn("messages_per_s", r, r["phase"])  # every message was delivered
        # Pings are single unreliable packets: under a flood that fills B's socket buffer some
        # are lost (no_reply after 5 s), but most must come back.
        answered = sum(len(r["ping_ms"]) for r in results)
        failed = sum(r["ping_failures"] for r in results)
        self.assertGreater(answered, 2 * failed, f"{answered} pings answered, {failed} failed")
        baseline = by_phase["baseline"]["rss_kib_max"]
        if SANITIZED:
            print("resident memory bound not checked: sanitizer build (quarantined frees)")
        else:
            for r in results:
                self.assertLess(r["rss_kib_max"], baseline + RSS_GROWTH_LIMIT_KIB, r["phase"])

        unknown = by_phase["unknown-keys"]
        self.assertGreater(unknown["flood"]["packets"], 0)
        self.assertGreater(unknown["drops"].get("rate_limited", 0), 0, unknown["drops"])
        # One source address: at most its burst (40) plus 20/s reached X25519 (dropped as
        # policy), whatever the flood's rate.
        self.assertLessEqual(unknown["drops"].get("policy", 0), 40 + 20 * unknown["seconds"] + 5,
                             unknown["drops"])
        bad = by_phase["bad-auth"]
        self.assertGreater(bad["drops"].get("rate_limited", 0), 0, bad["drops"])
        self.assertGreater(bad["drops"].get("unauthenticated", 0), 0, bad["drops"])
        spread = by_phase["unknown-keys-256"]
        # Many addresses: the global limit (burst 1,000, then 2,000/s) bounds the total.
        self.assertLessEqual(spread["drops"].get("policy", 0),
                             1000 + 2000 * spread["seconds"] + 5, spread["drops"])
        self.assertGreater(by_phase["random"]["drops"].get("malformed", 0) +
                           by_phase["random"]["drops"].get("uncloak", 0), 0)


    # An exchange that came up by the peer confirming OUR handshake has recv_max 0: here B
    # dials A and A (keepalive 300 s) never sends a handshake of its own. Before revision 2
    # any genuine handshake of A with a new KEY and a SEQ above 0 -- one captured a day ago --
    # was accepted as a new session: it reset the session and moved A's path to the
    # replayer. PROTOCOL.md 10 rule 1 (new only above the last sync) and rule 2 (a stale
    # handshake with an unknown KEY changes nothing) close it.
    @unittest.skipUnless(os.path.exists(FLOOD), f"{FLOOD} not built")
    def test_replayed_old_handshakes_leave_the_session_alone(self):
        a = self.daemon("a", udp_port=free_port(), tcp_port=free_port(socket.SOCK_STREAM),
                        log_level="info")
        b = self.daemon("b", udp_port=free_port(), tcp_port=free_port(socket.SOCK_STREAM),
                        log_level="info")
        a.add_peer(b, [], keepalive=300)
        b.add_peer(a, [a.udp_endpoint()])
        a.start()
        b.start()
        results = flood_load.run(self, FLOOD, SECONDS, 2, modes=("replay",), messages=2,
                                 speedtest_seconds=0, pair=(a, b))
        replay = results[1]
        print(f"replay: drops {replay['drops']} problems {replay['problems'][:3]}")
        self.assertTrue(all(r["alive"] for r in results))
        self.assertEqual(replay["problems"], [])


if __name__ == "__main__":
    unittest.main()
