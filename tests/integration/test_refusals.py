"""Who is knocking (issue 15): the daemon logs the senders it refuses, with the source address,
the hashname when known and a hint, at most once per source per minute; and when a peer's
configured key is in fact that peer's hashname (both are 52 base32 characters), it says so
once, with the key to use."""
import unittest

from harness import DaemonTestCase, free_port, wait_until


def dropped(daemon, reason):
    return daemon.ctl("status")["dropped"][reason]


class Refusals(DaemonTestCase):
    def test_a_hashname_pasted_as_key_is_named_and_both_sides_log_the_refusal(self):
        a = self.daemon("a", udp_port=free_port())
        b = self.daemon("b", udp_port=free_port())
        # a's operator pasted b's hashname where b's key belongs; b's config is right.
        a.peers.append(dict(name="b", key=b.hashname, hashname=None, endpoints=[b.udp_endpoint()],
                            keepalive=None, by_hashname=False))
        b.add_peer(a, [a.udp_endpoint()])
        a.start()
        b.start()
        # b's handshakes reach a from a hashname that is no peer of a's; a's reach b sealed for
        # a key that is not b's. Wait for several of each: each side logs once a minute.
        wait_until(lambda: dropped(a, "policy") >= 3, 30, "a to refuse b's handshakes")
        wait_until(lambda: dropped(b, "unauthenticated") >= 3, 30, "b to refuse a's packets")
        log_a, log_b = a.log_text(), b.log_text()
        hint = f"peer b: the configured key is this sender's hashname; use its key: {b.key}"
        self.assertEqual(log_a.count(hint), 1, log_a)
        refused = (f"refused a handshake from udp4 127.0.0.1:{b.udp_port} (hashname {b.hashname}):"
                   f' not in [[peer]]; to let it in, add a [[peer]] with key = "{b.key}"')
        self.assertEqual(log_a.count(refused), 1, log_a)
        self.assertEqual(log_a.count("refused a handshake from"), 1, log_a)
        unopened = (f"refused a packet from udp4 127.0.0.1:{a.udp_port}: it does not open with "
                    "our key, or its authentication fails; if this is a peer, its [[peer]] key "
                    f"for us must be our key {b.key} (not our hashname {b.hashname})")
        self.assertEqual(log_b.count(unopened), 1, log_b)
        self.assertEqual(log_b.count("refused a packet from"), 1, log_b)


if __name__ == "__main__":
    unittest.main()
