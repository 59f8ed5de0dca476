"""Routing through a mutual peer (PROTOCOL.md 12, issue 12) with real daemons in network
namespaces (nat_sites.py): A and B each behind its own NAT router, H on the public segment and
configured as their router. A and B know only H's address and each other's key, with
`via = ["h"]`.

- cone NATs (Linux masquerade): A and B come up through H, then move to a direct path within
  5 s; afterwards H relays nothing for them and killing H does not disturb A-B;
- a symmetric NAT on B's side (masquerade random): the pair stays relayed through H, traffic
  flows through it within the relay rate, and `peers` says "relayed via h".
Without root or namespaces the test exits 77 (skipped)."""
import sys
import time
import unittest

from harness import DaemonTestCase, wait_until
from nat_sites import NatSites, namespaces_available

SKIP = 77
PORT = 42424


class Routing(DaemonTestCase):
    def sites(self, tag, **options):
        sites = NatSites(tag, **options)
        self.addCleanup(sites.destroy)
        sites.create()
        return sites

    def start_daemons(self, sites, relay_rate="2 MB/s"):
        h = self.daemon("h", udp_port=PORT, listen_ip=sites.h_ip, netns=sites.ns("h"),
                        extra_config=("[router]\nenable = true\nallow = [\"a\", \"b\"]\n"
                                      f"relay_rate = \"{relay_rate}\"\n"))
        a = self.daemon("a", udp_port=PORT, listen_ip=sites.a_ip, netns=sites.ns("a"))
        b = self.daemon("b", udp_port=PORT, listen_ip=sites.b_ip, netns=sites.ns("b"))
        h.add_peer(a)
        h.add_peer(b)
        a.add_peer(h, [h.udp_endpoint()])
        b.add_peer(h, [h.udp_endpoint()])
        a.add_peer(b, via=["h"])
        b.add_peer(a, via=["h"])
        # Processes must leave the namespaces before the fixture deletes them.
        for daemon in (h, a, b):
            self.addCleanup(daemon.stop)
        h.start()
        a.start()
        b.start()
        return h, a, b

    def relayed_packets(self, h):
        return sum(route["relayed_packets"] for route in h.ctl("routes")["routes"])

    def test_cone_nats_move_to_a_direct_path_and_h_relays_nothing_after(self):
        sites = self.sites("rc")
        h, a, b = self.start_daemons(sites)
        wait_until(lambda: a.peer("b")["state"] == "up", 30, "A and B up through H")
        up = time.monotonic()
        wait_until(lambda: a.peer("b")["reach"]["kind"] == "direct" and
                   b.peer("a")["reach"]["kind"] == "direct", 10, "a direct path")
        took = time.monotonic() - up
        self.assertLess(took, 5.0, f"direct path after {took:.1f} s")
        detail = a.ctl("peer", "b")
        self.assertTrue(detail["path"].startswith("udp4 10.88.0.2:"), detail["path"])
        history = detail["path_history"]
        self.assertTrue(history and history[-1]["to"].startswith("direct"), history)
        self.assertIn("relayed via h", [change["from"] for change in history], history)
        self.assertIn("direct path found", a.log_text())
        routes = h.ctl("routes")
        self.assertEqual(len(routes["routes"]), 1, routes)
        self.assertGreaterEqual(routes["routes"][0]["introductions"], 2, routes)

        # From now on H forwards nothing for the pair, while A and B talk.
        time.sleep(1)
        relayed = self.relayed_packets(h)
        between = sites.between_nats_counters()
        for _ in range(5):
            a.ctl("ping", "b")
            b.ctl("ping", "a")
        a.ctl("speedtest", "b", "--seconds", "1", "--size", "1000")
        self.assertEqual(self.relayed_packets(h), relayed, "H relayed packets of a direct pair")
        after = sites.between_nats_counters()
        self.assertGreater(after["ra_to_rb"]["packets"], between["ra_to_rb"]["packets"] + 100)

        # H gone: A and B go on.
        h.kill()
        time.sleep(2)
        a.ctl("ping", "b")
        self.assertEqual(a.peer("b")["state"], "up")
        self.assertEqual(a.peer("b")["reach"]["kind"], "direct")

    def test_a_symmetric_nat_keeps_the_pair_relayed_through_h(self):
        sites = self.sites("rs", b_nat="symmetric")
        h, a, b = self.start_daemons(sites, relay_rate="1 MB/s")
        wait_until(lambda: a.peer("b")["state"] == "up", 30, "A and B up through H")
        # One whole punching attempt (5 s) fails: the pair stays relayed.
        wait_until(lambda: a.ctl("peer", "b")["punch"]["state"] == "failed", 15,
                   "the punching attempt to fail")
        peer = a.peer("b")
        self.assertEqual(peer["reach"], {"kind": "relayed", "via": "h"})
        self.assertEqual(b.peer("a")["reach"]["kind"], "relayed")
        self.assertTrue(a.ctl("peer", "b")["punch"]["last_failure"].startswith("no answer"))
        a.ctl("ping", "b")
        before = self.relayed_packets(h)
        result = a.ctl("speedtest", "b", "--seconds", "2", "--size", "1000")
        routes = h.ctl("routes")["routes"]
        self.assertGreater(self.relayed_packets(h), before + 100, routes)
        # Within the relay rate: what got through in 2 s is at most 1 MB/s plus the burst.
        delivered = result["delivered_bytes"]
        self.assertLessEqual(delivered, 2 * 1_000_000 + 300_000, result)
        self.assertGreater(routes[0]["dropped_rate_limited"], 0, routes)


if __name__ == "__main__":
    why = namespaces_available()
    if why:
        print(f"SKIPPED: routing test needs network namespaces: {why}")
        sys.exit(SKIP)
    unittest.main()
