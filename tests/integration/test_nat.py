"""NAT keepalive, in network namespaces made for the test:

    [A 10.77.1.2] --veth-- [R 10.77.1.1 | 10.77.2.1, nft masquerade] --veth-- [B 10.77.2.2]

R forgets a UDP mapping after 5 s of silence (conntrack timeouts). A knows B's address; B
knows only A's key, so B can reach A only through the mapping A's packets keep open. With
keepalive 3 s, B still reaches A after 30 s without application traffic; with keepalive 0 on
both the mapping expires and B cannot. Without root or namespaces the test exits 77, which
ctest reports as skipped."""
import json
import os
import subprocess
import sys
import time
import unittest

from harness import DaemonTestCase, E3XCTL, wait_until

SKIP = 77
QUIET_SECONDS = 30


def sh(*args, ns=None):
    command = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    subprocess.run(command, check=True, capture_output=True)


class NatTopology:
    def __init__(self, tag):
        self.a, self.r, self.b = (f"e3x-{tag}-{x}-{os.getpid()}" for x in "arb")

    def create(self):
        for ns in (self.a, self.r, self.b):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "add", "va", "netns", self.a, "type", "veth", "peer", "ra", "netns", self.r)
        sh("ip", "link", "add", "vb", "netns", self.b, "type", "veth", "peer", "rb", "netns", self.r)
        sh("ip", "addr", "add", "10.77.1.2/24", "dev", "va", ns=self.a)
        sh("ip", "addr", "add", "10.77.1.1/24", "dev", "ra", ns=self.r)
        sh("ip", "addr", "add", "10.77.2.1/24", "dev", "rb", ns=self.r)
        sh("ip", "addr", "add", "10.77.2.2/24", "dev", "vb", ns=self.b)
        for ns, dev in ((self.a, "va"), (self.r, "ra"), (self.r, "rb"), (self.b, "vb")):
            sh("ip", "link", "set", dev, "up", ns=ns)
        sh("ip", "route", "add", "default", "via", "10.77.1.1", ns=self.a)  # B has no route to A
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.r)
        sh("nft", "add table ip nat", ns=self.r)
        sh("nft", "add chain ip nat post { type nat hook postrouting priority 100 ; }", ns=self.r)
        sh("nft", "add rule ip nat post oifname rb masquerade", ns=self.r)
        # The rule must load before conntrack's sysctls exist in this namespace.
        sh("sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=5", ns=self.r)
        sh("sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout_stream=5", ns=self.r)

    def destroy(self):
        for ns in (self.a, self.r, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def namespaces_available():
    if os.geteuid() != 0:
        return "not root"
    probe = NatTopology("probe")
    try:
        probe.create()
        return None
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        detail = getattr(error, "stderr", b"") or b""
        return f"cannot build the NAT namespaces: {error} {detail.decode(errors='replace')}"
    finally:
        probe.destroy()


class NatKeepalive(DaemonTestCase):
    def run_case(self, keepalive, tag):
        topology = NatTopology(tag)
        self.addCleanup(topology.destroy)
        topology.create()
        a = self.daemon("a", udp_port=42424, listen_ip="10.77.1.2", keepalive=keepalive,
                        netns=topology.a)
        b = self.daemon("b", udp_port=42424, listen_ip="10.77.2.2", keepalive=keepalive,
                        netns=topology.b)
        a.add_peer(b, [b.udp_endpoint()])
        b.add_peer(a)  # no endpoint: B can only answer through the NAT
        a.start()
        b.start()
        seen = wait_until(lambda: (p := b.peer("a"))["state"] == "up" and p, 20, "B sees A up")
        self.assertEqual(seen["path"].split(":")[0], "udp4 10.77.2.1", "A must arrive NATed")
        a.ctl("ping", "b")  # the last application traffic
        time.sleep(QUIET_SECONDS)  # the scenario itself is time: 30 s without application data
        out = subprocess.run([E3XCTL, "-s", b.socket, "--json", "ping", "a"],
                             capture_output=True, text=True, timeout=30)
        return out

    def test_keepalive_keeps_the_nat_mapping_open(self):
        out = self.run_case(3, "ka")
        self.assertEqual(out.returncode, 0, f"B could not reach A through the NAT: {out.stderr}")

    def test_without_keepalive_the_mapping_expires(self):
        out = self.run_case(0, "nk")
        self.assertNotEqual(out.returncode, 0, "B reached A although the mapping should be gone")
        # Under --json the error is a JSON document on stdout.
        self.assertEqual(json.loads(out.stdout)["error"]["code"], "no_reply", out.stdout)


class PathProbeRetry(DaemonTestCase):
    """`e3xctl ping` over a path that loses its first probe: the "path" channel is unreliable,
    so the daemon sends the probe again (about every second) instead of waiting out its 5 s.
    R drops everything from A to B for 1.5 s while A pings B; the ping must come back once the
    path does, with the round trip of the attempt that was answered."""

    def test_a_lost_probe_is_sent_again(self):
        topology = NatTopology("pr")
        self.addCleanup(topology.destroy)
        topology.create()
        a = self.daemon("a", udp_port=42424, listen_ip="10.77.1.2", netns=topology.a)
        b = self.daemon("b", udp_port=42424, listen_ip="10.77.2.2", netns=topology.b)
        a.add_peer(b, [b.udp_endpoint()])
        b.add_peer(a)
        a.start()
        b.start()
        wait_until(lambda: a.peer("b")["state"] == "up" and b.peer("a")["state"] == "up", 20,
                   "both up")
        a.ctl("ping", "b")  # the path works
        sh("nft", "add table inet probe", ns=topology.r)
        sh("nft", "add chain inet probe forward_drop { type filter hook forward priority 0 ; }",
           ns=topology.r)
        sh("nft", "add rule inet probe forward_drop iifname ra udp dport 42424 drop", ns=topology.r)
        started = time.monotonic()
        ping = subprocess.Popen([E3XCTL, "-s", a.socket, "--json", "ping", "b"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        sh("nft", "flush chain inet probe forward_drop", ns=topology.r)
        out, err = ping.communicate(timeout=15)
        elapsed = time.monotonic() - started
        self.assertEqual(ping.returncode, 0, f"the ping failed after {elapsed:.1f} s: {out} {err}")
        self.assertLess(elapsed, 4.5, "the ping waited for its first probe's timeout")
        # The answered attempt left after the path came back: a loopback-fast round trip,
        # not the 1.5 s and more since the first attempt.
        self.assertLess(json.loads(out)["rtt_ms"], 500, out)


if __name__ == "__main__":
    why = namespaces_available()
    if why:
        print(f"SKIPPED: NAT keepalive test needs network namespaces: {why}")
        sys.exit(SKIP)
    unittest.main()
