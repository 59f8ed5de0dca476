"""Self-test of the NatSites fixture (nat_sites.py, issue 12) with plain UDP sockets in the
namespaces, no e3xd: what H observes of A and B behind their NATs, hole punching between the
mapped addresses (cone/cone works; a symmetric NAT or a segment that drops UDP between the NATs
defeats it), and the fixture's counters. Without root or namespaces the test exits 77, which
ctest reports as skipped."""
import json
import subprocess
import sys
import threading
import time
import unittest

from nat_sites import NatSites, namespaces_available

SKIP = 77
H_PORT = 3478
H_PORT2 = 3479
A_PORT = 40001
B_PORT = 40002
UDP_IP_OVERHEAD = 28  # IPv4 + UDP headers: nft counts IP bytes

# Runs in a namespace: one UDP socket per port given on the command line, bound to 0.0.0.0.
# stdin: {"port": local, "to": [ip, port], "data": str} per line -> sendto.
# stdout: "ready", then {"port": local, "from": [ip, port], "data": str} per datagram.
AGENT = r"""
import json, select, socket, sys, threading
socks = {}
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    socks[port] = s
def receive():
    while True:
        for s in select.select(list(socks.values()), [], [])[0]:
            data, source = s.recvfrom(65536)
            print(json.dumps(dict(port=s.getsockname()[1], data=data.decode(),
                                  **{"from": list(source)})), flush=True)
threading.Thread(target=receive, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    command = json.loads(line)
    socks[command["port"]].sendto(command["data"].encode(), tuple(command["to"]))
"""


class Agent:
    """UDP sockets in one node's namespace, driven over a pipe."""

    def __init__(self, sites, node, *ports):
        self.node = node
        self.ports = ports
        self.process = subprocess.Popen(
            sites.exec_args(node) + [sys.executable, "-u", "-c", AGENT, *map(str, ports)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the UDP agent in {node} did not start")
        self.lock = threading.Lock()
        self.datagrams = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            d = json.loads(line)
            with self.lock:
                self.datagrams.append((d["port"], tuple(d["from"]), d["data"]))

    def send(self, to, data, port=None):
        command = dict(port=port or self.ports[0], to=list(to), data=data)
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def received(self, source=None, port=None, data=None):
        """[(local port, (ip, port), data)] so far, optionally only those from `source`, to
        `port`, with `data`."""
        with self.lock:
            return [d for d in self.datagrams
                    if (source is None or d[1] == tuple(source)) and
                    (port is None or d[0] == port) and (data is None or d[2] == data)]

    def wait(self, count, timeout=2.0, **match):
        """Waits until at least `count` datagrams matching have arrived; returns them (maybe
        fewer, when the timeout passes first)."""
        deadline = time.monotonic() + timeout
        while len(got := self.received(**match)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return got

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()


class NatSitesTest(unittest.TestCase):
    ROUNDS = 5
    QUIET = 0.5  # how long a datagram that must not arrive is given to arrive anyway

    def sites(self, tag, **options):
        sites = NatSites(tag, **options)
        self.addCleanup(sites.destroy)
        return sites.create()

    def agents(self, sites):
        """H with two ports, A and B with one each."""
        agents = (Agent(sites, "h", H_PORT, H_PORT2), Agent(sites, "a", A_PORT),
                  Agent(sites, "b", B_PORT))
        for agent in agents:
            self.addCleanup(agent.stop)
        return agents

    def observe(self, sites, h, a, b):
        """A and B each send to H's first port, B also to H's second: returns
        (A's mapped address, B's towards H:H_PORT, B's towards H:H_PORT2) as H saw them."""
        a.send((sites.h_ip, H_PORT), "a->h")
        b.send((sites.h_ip, H_PORT), "b->h")
        b.send((sites.h_ip, H_PORT2), "b->h2")
        got = {data: source for _, source, data in h.wait(3)}
        self.assertEqual(set(got), {"a->h", "b->h", "b->h2"}, f"H received {got}")
        return got["a->h"], got["b->h"], got["b->h2"]

    def punch(self, a, b, a_target, b_target):
        """Simultaneous open: A sends to a_target and B to b_target, alternately, ROUNDS
        times; returns what each received from the other's target address. The first round
        may be lost (it can reach the other NAT before that side's own packet opened it)."""
        for i in range(self.ROUNDS):
            a.send(a_target, f"punch a{i}")
            b.send(b_target, f"punch b{i}")
            time.sleep(0.05)
        last = self.ROUNDS - 1
        a.wait(1, timeout=self.QUIET, source=a_target, data=f"punch b{last}")
        b.wait(1, timeout=self.QUIET, source=b_target, data=f"punch a{last}")
        return a.received(source=a_target), b.received(source=b_target)

    def assertPunched(self, a_got, b_got):
        """Both sides received the last round and all but at most the first two."""
        for side, got, last in (("A", a_got, f"punch b{self.ROUNDS - 1}"),
                                ("B", b_got, f"punch a{self.ROUNDS - 1}")):
            self.assertIn(last, [d[2] for d in got], f"{side} received {got}")
            self.assertGreaterEqual(len(got), self.ROUNDS - 2, f"{side} received {got}")

    def test_cone_nats_preserve_ports_filter_by_address_and_port_and_let_punching_through(self):
        sites = self.sites("cone")
        h, a, b = self.agents(sites)
        a_mapped, b_mapped, b_mapped2 = self.observe(sites, h, a, b)
        # Port-preserving, endpoint-independent mapping.
        self.assertEqual(a_mapped, (sites.ra_public_ip, A_PORT))
        self.assertEqual(b_mapped, (sites.rb_public_ip, B_PORT))
        self.assertEqual(b_mapped2, b_mapped, "the cone NAT gave B another port for H's 2nd port")
        # Address-and-port-dependent filtering: H's other port cannot reach A's mapping, the
        # port A sent to can; B cannot before A has sent to B.
        h.send(a_mapped, "h2->a", port=H_PORT2)
        h.send(a_mapped, "h->a", port=H_PORT)
        b.send(a_mapped, "b->a early")
        self.assertEqual([d[2] for d in a.wait(2, timeout=self.QUIET)], ["h->a"])
        # The filtered early packet left no conntrack entry behind that could spoil A's
        # mapping: simultaneous open between the mapped addresses works both ways.
        self.assertPunched(*self.punch(a, b, b_mapped, a_mapped))
        # And the NATs kept the same public ports for the direct path.
        flows = sites.public_flows()
        self.assertIn((*a_mapped, *b_mapped), flows)
        self.assertIn((*b_mapped, *a_mapped), flows)

    def test_a_symmetric_nat_gives_every_destination_a_new_port_and_punching_fails(self):
        sites = self.sites("sym", b_nat="symmetric")
        h, a, b = self.agents(sites)
        a_mapped, b_mapped, b_mapped2 = self.observe(sites, h, a, b)
        self.assertEqual(a_mapped, (sites.ra_public_ip, A_PORT))
        self.assertEqual(b_mapped[0], sites.rb_public_ip)
        self.assertNotEqual(b_mapped[1], B_PORT, "masquerade random kept B's port")
        self.assertEqual(b_mapped2[0], sites.rb_public_ip)
        self.assertNotEqual(b_mapped2[1], b_mapped[1],
                            "the symmetric NAT used one port for both of H's ports")
        # Both sides punch to what H observed.
        a_got, b_got = self.punch(a, b, b_mapped, a_mapped)
        self.assertEqual(a_got, [], "A received from B's observed address")
        self.assertEqual(b_got, [], "B received from A's mapped address")
        self.assertEqual(a.received(), [], "A received something")
        self.assertEqual(b.received(), [], "B received something")
        # Why: B's packets to A's mapping left RB from yet another port, which A's NAT
        # filters (it expects B's packets from the port H observed).
        b_ports_to_a = {f[1] for f in sites.public_flows()
                        if f[0] == sites.rb_public_ip and f[2:] == a_mapped}
        self.assertEqual(len(b_ports_to_a), 1, sites.public_flows())
        self.assertNotIn(b_mapped[1], b_ports_to_a)
        self.assertNotIn(b_mapped2[1], b_ports_to_a)

    def test_blocking_udp_between_the_nats_leaves_only_h(self):
        sites = self.sites("blk", block_between_nats=True)
        h, a, b = self.agents(sites)
        a_mapped, b_mapped, _ = self.observe(sites, h, a, b)
        self.assertEqual((a_mapped, b_mapped),
                         ((sites.ra_public_ip, A_PORT), (sites.rb_public_ip, B_PORT)))
        h.send(a_mapped, "h->a")
        h.send(b_mapped, "h->b")
        self.assertEqual([d[2] for d in a.wait(1)], ["h->a"])
        self.assertEqual([d[2] for d in b.wait(1)], ["h->b"])
        a_got, b_got = self.punch(a, b, b_mapped, a_mapped)
        self.assertEqual((a_got, b_got), ([], []), "punching got through the block")
        # The attempts were counted on the segment (and dropped there).
        counters = sites.between_nats_counters()
        self.assertEqual(counters["ra_to_rb"]["packets"], self.ROUNDS, counters)
        self.assertEqual(counters["rb_to_ra"]["packets"], self.ROUNDS, counters)

    def test_counters_and_cutting_h_off(self):
        sites = self.sites("cnt")
        h, a, b = self.agents(sites)
        zero = dict(packets=0, bytes=0)
        self.assertEqual(sites.h_counters(), dict(to_h=zero, from_h=zero))
        self.assertEqual(sites.between_nats_counters(), dict(ra_to_rb=zero, rb_to_ra=zero))
        a_mapped, b_mapped, _ = self.observe(sites, h, a, b)
        h.send(a_mapped, "h->a")
        h.send(b_mapped, "h->b")
        a.wait(1)
        b.wait(1)

        def ip_bytes(*payloads):
            return sum(len(p) + UDP_IP_OVERHEAD for p in payloads)
        via_h = dict(to_h=dict(packets=3, bytes=ip_bytes("a->h", "b->h", "b->h2")),
                     from_h=dict(packets=2, bytes=ip_bytes("h->a", "h->b")))
        self.assertEqual(sites.h_counters(), via_h)
        self.assertEqual(sites.between_nats_counters(), dict(ra_to_rb=zero, rb_to_ra=zero))
        # The direct path: counted between the NATs, nothing more through H.
        self.assertPunched(*self.punch(a, b, b_mapped, a_mapped))
        punched = dict(packets=self.ROUNDS, bytes=self.ROUNDS * ip_bytes("punch a0"))
        self.assertEqual(sites.between_nats_counters(), dict(ra_to_rb=punched, rb_to_ra=punched))
        self.assertEqual(sites.h_counters(), via_h)
        self.assertEqual(sites.public_flows()[(*a_mapped, *b_mapped)], punched)
        # H cut off: nothing reaches H, the direct path still works; and back.
        sites.kill_h_network()
        a.send((sites.h_ip, H_PORT), "a->h cut")
        h.send(a_mapped, "h->a cut")
        a.send(b_mapped, "a->b after the cut")
        self.assertTrue(b.wait(1, source=a_mapped, data="a->b after the cut"),
                        "the direct path broke when H was cut off")
        time.sleep(self.QUIET)
        self.assertEqual(sorted(d[2] for d in h.received()), ["a->h", "b->h", "b->h2"])
        self.assertNotIn("h->a cut", [d[2] for d in a.received()])
        self.assertEqual(sites.h_counters()["to_h"], via_h["to_h"])
        sites.restore_h_network()
        a.send((sites.h_ip, H_PORT), "a->h restored")
        self.assertTrue(h.wait(1, data="a->h restored"), "H still cut off after the restore")


if __name__ == "__main__":
    why = namespaces_available()
    if why:
        print(f"SKIPPED: NAT sites self-test needs network namespaces: {why}")
        sys.exit(SKIP)
    unittest.main()
