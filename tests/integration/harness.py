"""Real-process test harness: starts e3xd daemons with generated configs and asks e3xctl.

Nothing here sleeps to synchronise: `wait_until` polls a condition (through e3xctl) with a
deadline and reports what it last saw when the deadline passes.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

E3XD = os.environ.get("E3XD_BIN", "build/daemon/e3xd")
E3XCTL = os.environ.get("E3XCTL_BIN", "build/daemon/e3xctl")


def free_port(kind=socket.SOCK_DGRAM, host="127.0.0.1", family=socket.AF_INET):
    """A port nobody is using right now on both UDP and TCP (the kernel picks it)."""
    while True:
        with socket.socket(family, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        try:
            with socket.socket(family, other) as s:
                s.bind((host, port))
            return port
        except OSError:
            continue


def wait_until(condition, timeout, what, interval=0.1):
    """Polls condition() until it returns a truthy value; fails the test with `what` and the
    last value seen if `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = condition()
        except Exception as error:  # the daemon may still be starting
            last = error
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def wait_until_started(process, socket_path, timeout=20):
    """Waits until the e3xd `process` answers on its control socket, which it does only once it
    has bound its ports, loaded its identity and is running. The socket's mere existence says
    less: it is bound first, so that a busy one stops the start before anything else happens.
    Returns "answered", or "exited" if the process ended first."""
    def answered_or_exited():
        if process.poll() is not None:
            return "exited"
        status = subprocess.run([E3XCTL, "-s", socket_path, "--json", "status"],
                                capture_output=True, text=True, timeout=15)
        return status.returncode == 0 and "answered"
    return wait_until(answered_or_exited, timeout, f"e3xd to answer on {socket_path}")


def keygen(path):
    out = subprocess.run([E3XCTL, "--json", "keygen", "--out", path], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)["hashname"]


def public_key(identity_path):
    with open(identity_path) as f:
        return json.load(f)["3a"]


class Daemon:
    """One e3xd process with its own directory, identity and config."""

    def __init__(self, root, name, udp_port=None, tcp_port=None, cloak=True, keepalive=25,
                 tcp_keepalive=300, accept="peers", log_level="debug", netns=None,
                 listen_ip="127.0.0.1", extra_config="", state_dir=None):
        self.name = name
        # UDP GSO on; a test that emulates per-datagram loss with an nft rule turns it off
        # (the rule sees a run of datagrams before segmentation and would drop all of it).
        self.udp_gso = True
        self.extra_config = extra_config
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.state_dir = state_dir or self.dir
        self.identity = os.path.join(self.dir, "identity.json")
        self.hashname = keygen(self.identity)
        self.key = public_key(self.identity)
        self.socket = os.path.join(self.dir, "control.sock")
        self.config_path = os.path.join(self.dir, "e3xd.toml")
        self.log_path = os.path.join(self.dir, "e3xd.log")
        self.listen_ip = listen_ip
        self.udp_port = udp_port
        self.tcp_port = tcp_port
        self.cloak = cloak
        self.keepalive = keepalive
        self.tcp_keepalive = tcp_keepalive
        self.accept = accept
        self.log_level = log_level
        self.netns = netns
        self.peers = []
        self.process = None

    def host(self, ip=None):
        ip = ip or self.listen_ip
        return f"[{ip}]" if ":" in ip else ip

    def udp_endpoint(self, ip=None):
        return f"udp://{self.host(ip)}:{self.udp_port}"

    def tcp_endpoint(self, ip=None):
        return f"tcp://{self.host(ip)}:{self.tcp_port}"

    def add_peer(self, other, endpoints=(), keepalive=None, by_hashname=False, name=None,
                 via=(), mailbox=()):
        self.peers.append(dict(name=name or other.name, key=other.key, hashname=other.hashname,
                               endpoints=list(endpoints), keepalive=keepalive,
                               by_hashname=by_hashname, via=list(via), mailbox=list(mailbox)))

    def write_config(self):
        def listen(port):
            return f'["{self.host()}:{port}"]' if port is not None else "[]"
        lines = [
            f'identity = "{self.identity}"',
            f'state_dir = "{self.state_dir}"',
            f'control_socket = "{self.socket}"',
            f'log_level = "{self.log_level}"',
            f'accept = "{self.accept}"',
            "[udp]",
            f"listen = {listen(self.udp_port)}",
            f"cloak = {str(self.cloak).lower()}",
            f"keepalive = {self.keepalive}",
            f"gso = {str(self.udp_gso).lower()}",
            "[tcp]",
            f"listen = {listen(self.tcp_port)}",
            f"cloak = {str(self.cloak).lower()}",
            f"keepalive = {self.tcp_keepalive}",
        ]
        if self.extra_config:
            lines.append(self.extra_config)
        for peer in self.peers:
            lines.append("[[peer]]")
            lines.append(f'name = "{peer["name"]}"')
            if peer["by_hashname"]:
                lines.append(f'hashname = "{peer["hashname"]}"')
            else:
                lines.append(f'key = "{peer["key"]}"')
            if peer["endpoints"]:
                lines.append("endpoints = [" + ", ".join(f'"{e}"' for e in peer["endpoints"]) + "]")
            if peer["keepalive"] is not None:
                lines.append(f"keepalive = {peer['keepalive']}")
            if peer.get("via"):
                lines.append("via = [" + ", ".join(f'"{v}"' for v in peer["via"]) + "]")
            if peer.get("mailbox"):
                lines.append("mailbox = [" + ", ".join(f'"{m}"' for m in peer["mailbox"]) + "]")
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, wait=True):
        self.write_config()
        command = [E3XD, "--config", self.config_path]
        if self.netns:
            command = ["ip", "netns", "exec", self.netns] + command
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            wait_until(lambda: self.process.poll() is None and self.ctl("status"), 20,
                       f"{self.name} to answer on its control socket (log: {self.log_path})")
        return self

    def ctl(self, *args, check=True):
        """Runs e3xctl --json against this daemon; returns the parsed result."""
        out = subprocess.run([E3XCTL, "-s", self.socket, "--json", *args], capture_output=True,
                             text=True, timeout=15)
        if check and out.returncode != 0:
            # Under --json the error is on stdout ({"error":{...}}).
            raise RuntimeError(f"e3xctl {' '.join(args)} exited {out.returncode}: "
                               f"{out.stdout.strip()} {out.stderr.strip()}")
        return json.loads(out.stdout) if out.stdout.strip() else None

    def peer(self, name):
        return self.ctl("peer", name)

    def request(self, cmd, timeout=15, **args):
        """One control request over the socket directly (faster than e3xctl for bulk work).
        Returns the reply object ({"ok":..., "result"|"error":...}); raises OSError when the
        daemon cannot be reached."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.socket)
            s.sendall(json.dumps(dict(cmd=cmd, **args)).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("the daemon closed the connection")
                data += chunk
        return json.loads(data)

    def result(self, cmd, **args):
        """request() that must succeed; returns its result."""
        reply = self.request(cmd, **args)
        if not reply.get("ok"):
            raise RuntimeError(f"{cmd} failed: {reply}")
        return reply["result"]

    def kill(self, sig=signal.SIGKILL):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.close_log()

    def close_log(self):
        if getattr(self, "log", None) and not self.log.closed:
            self.log.close()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.close_log()

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class DaemonTestCase(unittest.TestCase):
    """Gives each test a temporary directory and stops its daemons afterwards; on failure
    the daemons' logs are printed so the cause can be read from the CI output."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="e3xd-it-")
        self.daemons = []

    def daemon(self, name, **options):
        d = Daemon(self.root, name, **options)
        self.daemons.append(d)
        return d

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        failed = any(error for _, error in getattr(self._outcome, "errors", []) if error) or \
            (hasattr(self._outcome, "result") and (self._outcome.result.failures or
                                                   self._outcome.result.errors))
        if failed:
            for d in self.daemons:
                if os.path.exists(d.log_path):
                    print(f"\n----- log of {d.name} -----\n{d.log_text()[-6000:]}")
        shutil.rmtree(self.root, ignore_errors=True)


def connected_pair(test, transport="udp", cloak=True, keepalive=25, tcp_keepalive=300,
                   ip="127.0.0.1"):
    """Two daemons that know each other; A has B's endpoint, B has A's."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    a = test.daemon("a", udp_port=free_port(host=ip, family=family),
                    tcp_port=free_port(socket.SOCK_STREAM, host=ip, family=family),
                    cloak=cloak, keepalive=keepalive, tcp_keepalive=tcp_keepalive, listen_ip=ip)
    b = test.daemon("b", udp_port=free_port(host=ip, family=family),
                    tcp_port=free_port(socket.SOCK_STREAM, host=ip, family=family),
                    cloak=cloak, keepalive=keepalive, tcp_keepalive=tcp_keepalive, listen_ip=ip)
    endpoint = (lambda d: d.tcp_endpoint()) if transport == "tcp" else (lambda d: d.udp_endpoint())
    a.add_peer(b, [endpoint(b)])
    b.add_peer(a, [endpoint(a)])
    return a, b


def both_up(a, b):
    pa, pb = a.peer(b.name), b.peer(a.name)
    return (pa, pb) if pa["state"] == "up" and pb["state"] == "up" else None
