"""Services with real clients and faults (issue 11, PROTOCOL.md section 11):
- OpenSSH's sshd in its own network namespace, reachable only through B's `ssh` service:
  `ssh -o ProxyCommand='e3xctl connect b ssh'` runs a command there and scp moves 50 MB
  each way intact;
- backpressure: a client that reads nothing while a service sends 1 GB keeps both daemons'
  resident memory within 64 MiB of where it started, and gets every byte once it reads;
- the serving daemon SIGKILLed mid-transfer: the client's connection is reset within the
  liveness bound of section 10 (about 40 s), it never hangs;
- 10% of UDP datagrams dropped (nftables numgen, as the message loss test): 20 MB through a
  forward arrive intact; and with UDP GSO on, where the rule drops whole runs of up to 64
  datagrams (burst loss, issue 13).
Needs root and network namespaces (skipped, exit 77, without); sshd from openssh-server."""
import hashlib
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import unittest

from harness import E3XCTL, DaemonTestCase, both_up, connected_pair, free_port, wait_until

SKIP = 77
SSHD = "/usr/sbin/sshd"
MIB = 1024 * 1024
# The liveness bound of PROTOCOL.md section 10 rule 6 (10 s of silence, then 30 s for a new
# handshake), plus the time a reset takes to reach the client.
LIVENESS_BOUND_S = 40 + 5
SANITIZED = os.environ.get("E3X_SANITIZED", "OFF").upper() in ("ON", "1", "TRUE")


def run(*command, **options):
    return subprocess.run(list(command), check=True, capture_output=True, **options)


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def why_not_available():
    if os.geteuid() != 0:
        return "not root"
    name = f"e3x-probe-svc-{os.getpid()}"
    try:
        run("ip", "netns", "add", name)
        run("ip", "netns", "exec", name, "nft", "add", "table", "inet", "probe")
        return None
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        return str(error)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def pattern_block():
    """1 MiB of deterministic bytes the sender repeats and the receiver checks."""
    return hashlib.sha256(b"e3xd").digest() * (MIB // 32)


class SendForever(socketserver.BaseRequestHandler):
    """Sends pattern blocks until `limit` bytes (None: until the connection fails)."""
    limit = None

    def handle(self):
        block = pattern_block()
        sent = 0
        try:
            while self.limit is None or sent < self.limit:
                self.request.sendall(block)
                sent += len(block)
            self.request.shutdown(socket.SHUT_WR)
            self.request.recv(1)  # until the client closes
        except OSError:
            pass


class ServicesWithRealClients(DaemonTestCase):
    def setUp(self):
        super().setUp()
        reason = why_not_available()
        if reason:
            self.skipTest(reason)

    # ---- helpers -------------------------------------------------------------------------

    def namespace(self, suffix):
        name = f"e3x-svc-{suffix}-{os.getpid()}"
        run("ip", "netns", "add", name)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", name], capture_output=True)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def pair_across_veth(self, b_config, a_config=""):
        """A in this namespace at 10.231.<n>.1, B in its own namespace at 10.231.<n>.2, joined
        by a veth pair: B's loopback (where its services listen) is out of A's reach."""
        ns = self.namespace("b")
        n = os.getpid() % 200 + 20
        outside, inside = f"e3xa{os.getpid() % 100000}", f"e3xb{os.getpid() % 100000}"
        run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns)
        self.addCleanup(subprocess.run, ["ip", "link", "del", outside], capture_output=True)
        run("ip", "addr", "add", f"10.231.{n}.1/24", "dev", outside)
        run("ip", "link", "set", outside, "up")
        run("ip", "-n", ns, "addr", "add", f"10.231.{n}.2/24", "dev", inside)
        run("ip", "-n", ns, "link", "set", inside, "up")
        a = self.daemon("a", udp_port=free_port(), listen_ip=f"10.231.{n}.1", extra_config=a_config)
        b = self.daemon("b", udp_port=free_port(), listen_ip=f"10.231.{n}.2", netns=ns,
                        extra_config=b_config)
        a.add_peer(b, [b.udp_endpoint()])
        b.add_peer(a, [a.udp_endpoint()])
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        return a, b, ns

    def loopback_pair(self, b_config, a_config):
        a, b = connected_pair(self)
        a.extra_config, b.extra_config = a_config, b_config
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        return a, b

    def serve(self, handler):
        server = Server(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server.server_address[1]

    @staticmethod
    def service(name, target):
        return f'[[service]]\nname = "{name}"\ntarget = "{target}"\nallow = ["a"]\n'

    @staticmethod
    def forward(port, service):
        return f'[[forward]]\nlisten = "127.0.0.1:{port}"\npeer = "b"\nservice = "{service}"\n'

    # ---- ssh -----------------------------------------------------------------------------

    @unittest.skipUnless(os.path.exists(SSHD), "sshd (openssh-server) is not installed")
    def test_ssh_runs_a_command_and_scp_moves_50_mb_each_way(self):
        keys = os.path.join(self.root, "ssh")
        os.makedirs(keys)
        for name in ("host", "client"):
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(keys, name))
        shutil.copy(os.path.join(keys, "client.pub"), os.path.join(keys, "authorized_keys"))
        config = os.path.join(keys, "sshd_config")
        with open(config, "w") as f:
            f.write(f"Port 2222\nListenAddress 127.0.0.1\nHostKey {keys}/host\n"
                    f"AuthorizedKeysFile {keys}/authorized_keys\nPidFile {keys}/sshd.pid\n"
                    "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "Subsystem sftp internal-sftp\n")
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        a, b, ns = self.pair_across_veth(self.service("ssh", "tcp://127.0.0.1:2222"))
        sshd = subprocess.Popen(["ip", "netns", "exec", ns, SSHD, "-D", "-e", "-f", config],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(sshd.wait)
        self.addCleanup(sshd.terminate)
        wait_until(lambda: subprocess.run(["ip", "netns", "exec", ns, "bash", "-c",
                                           "exec 3<>/dev/tcp/127.0.0.1/2222"],
                                          capture_output=True).returncode == 0, 10, "sshd up")
        ssh_options = ["-F", "/dev/null", "-i", os.path.join(keys, "client"),
                       "-o", f"ProxyCommand={E3XCTL} -s {a.socket} connect %h ssh",
                       "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                       "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
        # A command on the other side: its addresses prove it ran in B's namespace, which A
        # cannot reach except through e3xd.
        out = subprocess.run(["ssh", *ssh_options, "root@b", "echo ran-there; ip -4 -o addr"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("ran-there", out.stdout)
        self.assertIn(b.listen_ip, out.stdout)
        self.assertNotIn(a.listen_ip, out.stdout)
        # scp 50 MB up and back down, compared by SHA-256.
        data = os.urandom(50 * MIB)
        local = os.path.join(self.root, "random.bin")
        with open(local, "wb") as f:
            f.write(data)
        remote, back = os.path.join(self.root, "remote.bin"), os.path.join(self.root, "back.bin")
        up = subprocess.run(["scp", *ssh_options, local, f"root@b:{remote}"], capture_output=True,
                            text=True, timeout=300)
        self.assertEqual(up.returncode, 0, up.stderr)
        down = subprocess.run(["scp", *ssh_options, f"root@b:{remote}", back],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(down.returncode, 0, down.stderr)
        digest = hashlib.sha256(data).hexdigest()
        for path in (remote, back):
            with open(path, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), digest, path)
        streams = b.result("services")
        self.assertEqual(streams[0]["name"], "ssh")
        wait_until(lambda: a.result("streams") == [], 20, "the ssh streams to close")

    # ---- backpressure --------------------------------------------------------------------

    def test_a_client_that_reads_nothing_holds_memory_and_then_gets_1_gb(self):
        total = 1024 * MIB
        handler = type("Send1G", (SendForever,), {"limit": total})
        port = free_port(socket.SOCK_STREAM)
        a, b = self.loopback_pair(self.service("bulk", f"tcp://127.0.0.1:{self.serve(handler)}"),
                                  self.forward(port, "bulk"))
        start = {d.name: rss_bytes(d.process.pid) for d in (a, b)}
        peak = dict(start)

        def sample():
            for d in (a, b):
                peak[d.name] = max(peak[d.name], rss_bytes(d.process.pid))

        client = socket.create_connection(("127.0.0.1", port))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        # Read nothing for a while: the service keeps writing, e3xd must not buffer it all.
        wait_until(lambda: a.result("streams") and a.result("streams")[0]["bytes_in"] > 0, 20,
                   "the stream to carry bytes")
        quiet_until = time.monotonic() + 8
        while time.monotonic() < quiet_until:
            sample()
            time.sleep(0.2)
        held = a.result("streams")[0]["bytes_in"]
        self.assertLess(held, total // 4, "bytes moved while the client read nothing")
        # Now read it all, checking every byte.
        block = pattern_block()
        received = 0
        pending = b""
        client.settimeout(120)
        last_sample = time.monotonic()
        while received < total:
            chunk = client.recv(1 << 20)
            self.assertTrue(chunk, f"EOF after {received} of {total} bytes")
            pending += chunk
            while len(pending) >= len(block):
                self.assertEqual(pending[:len(block)], block, f"corrupt near byte {received}")
                pending = pending[len(block):]
                received += len(block)
            if time.monotonic() - last_sample > 0.2:
                sample()
                last_sample = time.monotonic()
        client.close()
        self.assertEqual(received, total)
        for name in ("a", "b"):
            grew = peak[name] - start[name]
            print(f"{name}: RSS {start[name] / MIB:.1f} MiB at start, peak "
                  f"{peak[name] / MIB:.1f} MiB (+{grew / MIB:.1f})", file=sys.stderr)
            # Under AddressSanitizer resident memory says nothing about e3xd: freed memory is
            # held in ASan's quarantine (256 MiB by default) with its shadow. The bound is
            # checked by the normal build's run of this test (the same CI run, first).
            if not SANITIZED:
                self.assertLessEqual(grew, 64 * MIB, f"{name}'s resident memory grew too much")

    # ---- faults --------------------------------------------------------------------------

    def test_the_serving_daemon_killed_mid_transfer_resets_the_client(self):
        port = free_port(socket.SOCK_STREAM)
        a, b = self.loopback_pair(self.service("bulk", f"tcp://127.0.0.1:{self.serve(SendForever)}"),
                                  self.forward(port, "bulk"))
        client = socket.create_connection(("127.0.0.1", port))
        client.settimeout(LIVENESS_BOUND_S + 30)
        received = 0
        while received < 4 * MIB:
            chunk = client.recv(1 << 20)
            self.assertTrue(chunk)
            received += len(chunk)
        b.kill()
        killed_at = time.monotonic()
        outcome = None
        try:
            while True:
                chunk = client.recv(1 << 20)
                if not chunk:
                    outcome = "eof"
                    break
        except ConnectionResetError:
            outcome = "reset"
        except socket.timeout:
            outcome = "hang"
        elapsed = time.monotonic() - killed_at
        print(f"client saw {outcome} {elapsed:.1f} s after the kill", file=sys.stderr)
        self.assertEqual(outcome, "reset", "an aborted stream is a reset, not a clean end")
        self.assertLessEqual(elapsed, LIVENESS_BOUND_S)
        wait_until(lambda: a.result("streams") == [], 10, "the stream to be gone")

    def test_20_mb_through_10_percent_udp_loss_arrive_intact(self):
        self.twenty_mb_through_loss(gso=False)

    def test_20_mb_through_10_percent_burst_loss_arrive_intact(self):
        # Issue 13: with GSO on, the rule drops a whole run of up to 64 datagrams at once
        # (bursty loss, as a queue overflow or a Wi-Fi fade); a stream must still complete.
        self.twenty_mb_through_loss(gso=True)

    def twenty_mb_through_loss(self, gso):
        ns = self.namespace("loss")
        for rule in ("add table inet loss",
                     "add chain inet loss out { type filter hook output priority 0 ; }",
                     "add rule inet loss out meta l4proto udp numgen random mod 100 < 10 "
                     "counter drop"):
            run("ip", "netns", "exec", ns, "nft", rule)
        web_root = os.path.join(self.root, "www")
        os.makedirs(web_root)
        data = os.urandom(20 * MIB)
        with open(os.path.join(web_root, "blob"), "wb") as f:
            f.write(data)
        web_port, forward_port = 8080, 8081  # inside the namespace: nothing else listens there
        web = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "http.server",
                                "-b", "127.0.0.1", "-d", web_root, str(web_port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(web.wait)
        self.addCleanup(web.terminate)
        # The server must listen before the first stream asks for it (a loaded machine takes
        # a while to start Python): a refused stream is not what this test is about.
        probe = f"import socket; socket.create_connection(('127.0.0.1', {web_port}), 1)"
        wait_until(lambda: subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", probe],
                                          capture_output=True).returncode == 0, 30,
                   "the web server to listen")
        a, b = connected_pair(self)
        a.extra_config = self.forward(forward_port, "web")
        b.extra_config = self.service("web", f"tcp://127.0.0.1:{web_port}")
        for d in (a, b):
            d.netns = ns
            d.udp_gso = gso  # off: the nft rule drops single datagrams; on: whole GSO runs
            d.start()
        wait_until(lambda: both_up(a, b), 30, "both up through the loss")
        out = subprocess.run(["ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "300",
                              "-o", "-", f"http://127.0.0.1:{forward_port}/blob"],
                             capture_output=True, timeout=330)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(out.stdout), len(data))
        self.assertEqual(hashlib.sha256(out.stdout).hexdigest(), hashlib.sha256(data).hexdigest())
        listing = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "chain", "inet", "loss",
                                  "out"], capture_output=True, text=True).stdout.split()
        dropped = int(listing[listing.index("packets") + 1])
        print(f"20 MB through 10% loss (GSO {'on' if gso else 'off'}): {dropped} sends dropped",
              file=sys.stderr)
        self.assertGreater(dropped, 100)


if __name__ == "__main__":
    if why_not_available():
        print(f"skipped: {why_not_available()}", file=sys.stderr)
        sys.exit(SKIP)
    unittest.main()
