"""Two NATed sites and a hub on a public segment, in network namespaces (issue 12).

    site A                          public segment 10.88.0.0/24                   site B
                                    (bridge br0 in namespace "pub")
    [A 10.88.1.2] -- [RA 10.88.1.1 | 10.88.0.1] --+-- [H 10.88.0.10]
                                                  +-- [RB 10.88.0.2 | 10.88.2.1] -- [B 10.88.2.2]

A and B reach the public segment only through their NAT routers (default route via RA / RB);
nothing on the public segment has a route to 10.88.1.0/24 or 10.88.2.0/24, so the only way in
is a NAT mapping. RA and RB forward and masquerade on their public interface ("pub"):

  "cone"      plain `masquerade`. What Linux conntrack does (checked by test_nat_sites.py):
              - mapping is endpoint-independent and port-preserving: the source port is kept
                when the public address has it free, and the same inside socket keeps the same
                public port towards every destination;
              - filtering is NOT endpoint-independent: an inbound packet passes only if it is
                the reply direction of an existing conntrack entry, i.e. it must come from the
                exact address AND port the inside socket sent to (address-and-port-dependent
                filtering). H cannot reach A from a second port, B cannot reach A's mapping
                until A has sent to B's mapped address itself.
              That still allows simultaneous-open hole punching: each side sends to the other's
              mapped address (as H observed it); the outbound packet creates the entry whose
              reply direction admits the peer's packets.
  "symmetric" `masquerade random`: the source port is not preserved (but by chance) and
              every new conntrack entry (every new destination address:port) gets a new
              random public port from 1024-65535, so the port H observes is useless to the
              other peer and punching towards it fails.
RA's and RB's forward chains pass lan -> pub and established/related packets only.

Unsolicited inbound UDP on a router's public side is dropped in its input hook, silently, as
home routers do. This also matters for punching: a dropped packet never confirms a conntrack
entry. (A stock Linux host without that rule would confirm an entry for the unsolicited
packet, B:pb -> RA:pa, and the later outbound A:pa -> B:pb would then clash with it and be
given another public port: a punch packet that arrives before the local side has sent its own
would spoil the mapping. The input drop keeps punching independent of that ordering.)

block_between_nats=True drops UDP between RA's and RB's public addresses on the public segment
(the bridge's forward hook), so only H is reachable. udp_timeout=N shortens the routers'
conntrack UDP timeouts (both the unreplied and the "stream" one) to N seconds (Linux's
defaults: 30 s and 120 s).

kill_h_network() cuts H off the segment (the bridge drops every frame from and to H's port;
H's process keeps running and its sends still succeed), restore_h_network() undoes it. To
prove A-B survive H dying a test can as well just kill H's process.

Counters:
  h_counters()            UDP packets/bytes H received on its public interface ("to_h") and
                          sent on it ("from_h"), counted in H's namespace (bytes are IP bytes:
                          payload + 28).
  between_nats_counters() UDP packets/bytes crossing the public segment from RA's public
                          address to RB's ("ra_to_rb") and back ("rb_to_ra"); counted before
                          the block_between_nats drop, so with the block they count the
                          attempts that were dropped.
  public_flows()          every UDP flow seen crossing the public segment, (src ip, src port,
                          dst ip, dst port) -> packets/bytes: which public port a NAT used
                          towards whom.
nft counts packets as the kernel holds them: a UDP GSO send that stays one skb through
veth and forwarding counts once however many datagrams it carries; bytes are exact.

Namespace names are e3x-<tag>-<node>-<pid>, so parallel test runs (and several fixtures with
different tags in one run) do not collide; addresses repeat, each fixture has its own
namespaces. Stop the processes started in the namespaces before destroy(): a namespace lives
on while a process is in it.
Interface names are fixed inside the namespaces: "pub" on H, RA and RB, "lan" on RA, RB, A, B;
the bridge ports in the pub namespace are "br-h", "br-ra", "br-rb".

API: NatSites(tag, a_nat="cone"|"symmetric", b_nat=..., block_between_nats=False,
udp_timeout=None); create() (returns self), destroy(), `with`; exec_args(node) and ns(node)
for node in "h", "a", "b", "ra", "rb", "pub"; run(node, *command); addresses h_ip, a_ip,
b_ip, ra_public_ip, rb_public_ip, ra_lan_ip, rb_lan_ip; h_counters(),
between_nats_counters(), public_flows(); kill_h_network(), restore_h_network();
namespaces_available() says why the fixture cannot be built here (for the exit-77 skip).

    with NatSites("hp", b_nat="symmetric", udp_timeout=5) as sites:
        subprocess.run(sites.exec_args("a") + ["python3", ...])
"""
import json
import os
import subprocess

NODES = ("pub", "h", "ra", "rb", "a", "b")
NAT_MODES = ("cone", "symmetric")


class CommandFailed(subprocess.CalledProcessError):
    def __str__(self):
        return f"{super().__str__()}: {(self.stderr or '').strip()}"


def _run(args, ns=None, input=None, check=True):
    command = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    out = subprocess.run(command, capture_output=True, text=True, input=input)
    if check and out.returncode != 0:
        raise CommandFailed(out.returncode, command, out.stdout, out.stderr)
    return out


class NatSites:
    h_ip = "10.88.0.10"
    ra_public_ip = "10.88.0.1"
    rb_public_ip = "10.88.0.2"
    ra_lan_ip = "10.88.1.1"
    a_ip = "10.88.1.2"
    rb_lan_ip = "10.88.2.1"
    b_ip = "10.88.2.2"
    public_prefix = 24

    def __init__(self, tag, a_nat="cone", b_nat="cone", block_between_nats=False,
                 udp_timeout=None):
        for mode in (a_nat, b_nat):
            if mode not in NAT_MODES:
                raise ValueError(f"NAT mode {mode!r}: expected one of {NAT_MODES}")
        self.tag = tag
        self.a_nat = a_nat
        self.b_nat = b_nat
        self.block_between_nats = block_between_nats
        self.udp_timeout = udp_timeout
        pid = os.getpid()
        self.namespaces = {node: f"e3x-{tag}-{node}-{pid}" for node in NODES}
        self.created = False
        self._added = []  # the namespaces this instance made: only those are deleted

    # ----- lifecycle -----

    def __enter__(self):
        self.create()
        return self

    def __exit__(self, *exc):
        self.destroy()
        return False

    def ns(self, node):
        """The namespace name of node ("pub", "h", "ra", "rb", "a" or "b")."""
        return self.namespaces[node]

    def exec_args(self, node):
        """The command prefix that runs a program in node's namespace."""
        return ["ip", "netns", "exec", self.ns(node)]

    def run(self, node, *args, check=True, input=None):
        """Runs a command in node's namespace; returns the CompletedProcess (text)."""
        return _run(args, ns=self.ns(node), input=input, check=check)

    def create(self):
        """Builds the topology; on any failure removes what was built and re-raises."""
        if self.created:
            raise RuntimeError(f"NatSites {self.tag!r} already created")
        try:
            self._create()
        except BaseException:
            self.destroy()
            raise
        self.created = True
        return self

    def destroy(self):
        """Deletes the namespaces this fixture made (and with them the veths, the bridge and
        the nft tables). Safe to call twice and after a partial create(); never touches a
        namespace of the same name that another instance made."""
        while self._added:
            subprocess.run(["ip", "netns", "del", self._added.pop()], capture_output=True)
        self.created = False

    def _create(self):
        for node in NODES:
            _run(["ip", "netns", "add", self.ns(node)])
            self._added.append(self.ns(node))
            self.run(node, "ip", "link", "set", "dev", "lo", "up")
        pub = self.ns("pub")
        # The public segment: a bridge in "pub" with one port per public host. No STP, so
        # ports forward at once.
        self.run("pub", "ip", "link", "add", "br0", "type", "bridge", "stp_state", "0",
                 "forward_delay", "0")
        for node in ("h", "ra", "rb"):
            _run(["ip", "link", "add", "name", "pub", "netns", self.ns(node), "type", "veth",
                  "peer", "name", f"br-{node}", "netns", pub])
            self.run("pub", "ip", "link", "set", "dev", f"br-{node}", "master", "br0")
            self.run("pub", "ip", "link", "set", "dev", f"br-{node}", "up")
        self.run("pub", "ip", "link", "set", "dev", "br0", "up")
        for node, ip in (("h", self.h_ip), ("ra", self.ra_public_ip), ("rb", self.rb_public_ip)):
            self.run(node, "ip", "addr", "add", f"{ip}/{self.public_prefix}", "dev", "pub")
            self.run(node, "ip", "link", "set", "dev", "pub", "up")
        # The sites.
        for host, router, host_ip, router_ip in (("a", "ra", self.a_ip, self.ra_lan_ip),
                                                 ("b", "rb", self.b_ip, self.rb_lan_ip)):
            _run(["ip", "link", "add", "name", "lan", "netns", self.ns(host), "type", "veth",
                  "peer", "name", "lan", "netns", self.ns(router)])
            self.run(host, "ip", "addr", "add", f"{host_ip}/24", "dev", "lan")
            self.run(router, "ip", "addr", "add", f"{router_ip}/24", "dev", "lan")
            self.run(host, "ip", "link", "set", "dev", "lan", "up")
            self.run(router, "ip", "link", "set", "dev", "lan", "up")
            self.run(host, "ip", "route", "add", "default", "via", router_ip)
        for router, mode in (("ra", self.a_nat), ("rb", self.b_nat)):
            self._nat_router(router, mode)
        self._hub_counters()
        self._public_segment_rules()

    def _nat_router(self, router, mode):
        self.run(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        masquerade = "masquerade random" if mode == "symmetric" else "masquerade"
        self.run(router, "nft", "-f", "-", input=f"""
table ip e3x_nat {{
  chain post {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "pub" {masquerade}
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" oifname "pub" accept
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "pub" meta l4proto udp ct state new drop
  }}
}}
""")
        if self.udp_timeout is not None:
            # Conntrack's sysctls appear in a namespace once a ruleset there uses conntrack.
            seconds = int(self.udp_timeout)
            self.run(router, "sysctl", "-qw", f"net.netfilter.nf_conntrack_udp_timeout={seconds}")
            self.run(router, "sysctl", "-qw",
                     f"net.netfilter.nf_conntrack_udp_timeout_stream={seconds}")

    def _hub_counters(self):
        self.run("h", "nft", "-f", "-", input="""
table inet e3x_hub {
  counter to_h { }
  counter from_h { }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "pub" meta nfproto ipv4 meta l4proto udp counter name "to_h"
  }
  chain output {
    type filter hook output priority filter; policy accept;
    oifname "pub" meta nfproto ipv4 meta l4proto udp counter name "from_h"
  }
}
""")

    def _public_segment_rules(self):
        ra, rb = self.ra_public_ip, self.rb_public_ip
        block = ""
        if self.block_between_nats:
            block = (f"ip saddr {ra} ip daddr {rb} meta l4proto udp drop\n"
                     f"    ip saddr {rb} ip daddr {ra} meta l4proto udp drop")
        self.run("pub", "nft", "-f", "-", input=f"""
table bridge e3x_pub {{
  counter ra_to_rb {{ }}
  counter rb_to_ra {{ }}
  set flows {{
    type ipv4_addr . inet_service . ipv4_addr . inet_service
    flags dynamic
    size 65535
  }}
  chain h_cut {{
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    jump h_cut
    ip saddr {ra} ip daddr {rb} meta l4proto udp counter name "ra_to_rb"
    ip saddr {rb} ip daddr {ra} meta l4proto udp counter name "rb_to_ra"
    meta l4proto udp update @flows {{ ip saddr . udp sport . ip daddr . udp dport counter }}
    {block}
  }}
}}
""")

    # ----- H's connectivity -----

    def kill_h_network(self):
        """Cuts H off the public segment: the bridge drops every frame from and to H's port
        (H's sends still succeed and still count in h_counters()["from_h"]; they go
        nowhere)."""
        self.run("pub", "nft", "-f", "-", input="""
flush chain bridge e3x_pub h_cut
add rule bridge e3x_pub h_cut iifname "br-h" drop
add rule bridge e3x_pub h_cut oifname "br-h" drop
""")

    def restore_h_network(self):
        self.run("pub", "nft", "flush", "chain", "bridge", "e3x_pub", "h_cut")

    # ----- counters -----

    def _counters(self, node, family, table):
        out = self.run(node, "nft", "-j", "list", "counters", "table", family, table)
        result = {}
        for item in json.loads(out.stdout)["nftables"]:
            counter = item.get("counter")
            if counter:
                result[counter["name"]] = dict(packets=counter["packets"],
                                               bytes=counter["bytes"])
        return result

    def h_counters(self):
        """{"to_h": {"packets", "bytes"}, "from_h": {...}}: IPv4 UDP on H's public
        interface since create()."""
        return self._counters("h", "inet", "e3x_hub")

    def between_nats_counters(self):
        """{"ra_to_rb": {"packets", "bytes"}, "rb_to_ra": {...}}: IPv4 UDP sent directly
        between RA's and RB's public addresses since create() (dropped ones included when
        block_between_nats is on)."""
        return self._counters("pub", "bridge", "e3x_pub")

    def public_flows(self):
        """{(src_ip, src_port, dst_ip, dst_port): {"packets", "bytes"}} for every UDP flow
        that crossed the public segment (entries live as long as the set keeps them: no
        timeout, so for the fixture's lifetime)."""
        out = self.run("pub", "nft", "-j", "list", "set", "bridge", "e3x_pub", "flows")
        flows = {}
        for item in json.loads(out.stdout)["nftables"]:
            s = item.get("set")
            if not s:
                continue
            for element in s.get("elem", []):
                elem = element.get("elem", element)
                src, sport, dst, dport = elem["val"]["concat"]
                counter = elem.get("counter", {})
                flows[(src, int(sport), dst, int(dport))] = dict(
                    packets=counter.get("packets", 0), bytes=counter.get("bytes", 0))
        return flows


def namespaces_available():
    """None when this machine can build the fixture, else why not (for the exit-77 skip)."""
    if os.geteuid() != 0:
        return "not root"
    probe = NatSites("probe")
    try:
        probe.create()
        return None
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        detail = getattr(error, "stderr", "") or ""
        return f"cannot build the NAT sites: {error} {detail}"
    finally:
        probe.destroy()
