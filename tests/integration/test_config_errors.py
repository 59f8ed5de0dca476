"""Every configuration and identity error documented in docs/config.md, fed to the real e3xd:
it exits with the documented code and prints the documented message. The table in the doc is
the test's input, so the doc cannot drift from the program."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import E3XD, free_port, keygen, public_key, wait_until_started

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "config.md")


def table_rows(section_heading):
    """Rows (cells) of the first table after a heading."""
    with open(DOC) as f:
        text = f.read()
    start = text.index(section_heading)
    rows = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("#") and rows:
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows[1:]  # without the header


def unquote(cell):
    """`a`<br>`b` -> "a\\nb" (a cell that is entirely code spans)."""
    parts = cell.split("<br>")
    if not all(re.fullmatch(r"`[^`]*`|", p) for p in parts):
        return None
    return "\n".join(p[1:-1] for p in parts)


class ConfigErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="e3xd-cfg-")
        cls.hashname_a = keygen(os.path.join(cls.dir, "a.json"))
        keygen(os.path.join(cls.dir, "b.json"))
        cls.key_a = public_key(os.path.join(cls.dir, "a.json"))
        cls.key_b = public_key(os.path.join(cls.dir, "b.json"))

    def substitute(self, text):
        return (text.replace("KEY_A", self.key_a).replace("KEY_B", self.key_b)
                .replace("HASH_A", self.hashname_a))

    def test_documented_config_errors(self):
        checked = 0
        for error, exit_code, example, message in table_rows("### Configuration file"):
            toml = unquote(example)
            if toml is None or exit_code != "78":
                continue  # described in words; covered by the tests below
            with self.subTest(error=error):
                with open(os.path.join(self.dir, "e3xd.toml"), "w") as f:
                    f.write(self.substitute(toml) + "\n")
                expected = self.substitute(message.strip("`"))
                for flag in ("--check-config", "--config"):
                    out = subprocess.run([E3XD, flag, "e3xd.toml"], cwd=self.dir,
                                         capture_output=True, text=True, timeout=10)
                    self.assertEqual(out.returncode, 78, f"{flag}: {out.stderr}")
                    self.assertEqual(out.stderr.strip(), "e3xd: " + expected, flag)
                checked += 1
        self.assertGreaterEqual(checked, 25, "the doc's error table was not found or parsed")

    def test_missing_and_directory_config(self):
        missing = os.path.join(self.dir, "nope.toml")
        out = subprocess.run([E3XD, "--config", missing], capture_output=True, text=True)
        self.assertEqual(out.returncode, 66)
        self.assertEqual(out.stderr.strip(),
                         f"e3xd: {missing}: cannot read the configuration file: "
                         "No such file or directory")
        out = subprocess.run([E3XD, "--check-config", self.dir], capture_output=True, text=True)
        self.assertEqual(out.returncode, 66)
        self.assertIn("it is a directory", out.stderr)

    def run_with_identity(self, content, mode):
        work = tempfile.mkdtemp(dir=self.dir)
        identity = os.path.join(work, "identity.json")
        with open(identity, "w") as f:
            f.write(content)
        os.chmod(identity, mode)
        config = os.path.join(work, "e3xd.toml")
        with open(config, "w") as f:
            f.write(f'identity = "{identity}"\nstate_dir = "{work}"\n'
                    f'control_socket = "{work}/c.sock"\n[udp]\nlisten = ["127.0.0.1:0"]\n')
        out = subprocess.run([E3XD, "--config", config], capture_output=True, text=True,
                             timeout=10)
        return identity, out

    def test_documented_identity_errors(self):
        with open(os.path.join(self.dir, "a.json")) as f:
            good = f.read()
        identity, out = self.run_with_identity(good, 0o644)
        self.assertEqual(out.returncode, 77)
        self.assertIn(f"identity file {identity} is readable by group or others (mode 0644); it "
                      f"holds a secret key: run 'chmod 600 {identity}'", out.stderr)
        identity, out = self.run_with_identity(good, 0o620)
        self.assertEqual(out.returncode, 77)
        self.assertIn("is writable by group or others (mode 0620)", out.stderr)
        identity, out = self.run_with_identity("not json", 0o600)
        self.assertEqual(out.returncode, 65)
        self.assertIn(f"identity file {identity} is malformed: it is not valid JSON (syntax "
                      f"error); fix it, or move it away and create a new identity (a new "
                      f"hashname) with 'e3xctl keygen --out {identity}'", out.stderr)
        other = good.replace(self.key_a, self.key_b)
        identity, out = self.run_with_identity(other, 0o600)
        self.assertEqual(out.returncode, 65)
        self.assertIn("the public key in '3a' does not belong to the secret key", out.stderr)
        # No secret is ever printed.
        secret = re.search(r'"3a_secret"\s*:\s*"([a-z2-7]+)"', good).group(1)
        self.assertNotIn(secret, out.stderr + out.stdout)

    def test_valid_example_config_passes(self):
        example = os.path.join(os.path.dirname(__file__), "..", "..", "systemd", "e3xd.toml.example")
        out = subprocess.run([E3XD, "--check-config", example], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("ok", out.stdout)


class CheckBeforeStart(unittest.TestCase):
    """--check-config also checks what the file names (issue 15, "Check before you start"): the
    identity file, the control socket and the listen addresses; and e3xd binds its ports
    before it creates an identity, so a failed start leaves none behind."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="e3xd-pre-")
        self.identity = os.path.join(self.dir, "identity.json")
        self.socket = os.path.join(self.dir, "control.sock")
        self.udp_port, self.tcp_port = free_port(), free_port(socket.SOCK_STREAM)
        self.metrics_port = free_port(socket.SOCK_STREAM)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def config(self):
        path = os.path.join(self.dir, "e3xd.toml")
        with open(path, "w") as f:
            f.write(f'identity = "{self.identity}"\nstate_dir = "{self.dir}"\n'
                    f'control_socket = "{self.socket}"\n'
                    f'[udp]\nlisten = ["127.0.0.1:{self.udp_port}"]\n'
                    f'[tcp]\nlisten = ["127.0.0.1:{self.tcp_port}"]\n'
                    f'[metrics]\nlisten = "127.0.0.1:{self.metrics_port}"\n')
        return path

    def check(self):
        return subprocess.run([E3XD, "--check-config", self.config()], capture_output=True,
                              text=True, timeout=10)

    def test_a_missing_identity_passes_and_is_not_created(self):
        out = self.check()
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(": ok (0 peer(s))", out.stdout)
        self.assertFalse(os.path.exists(self.identity), "the check created the identity")
        # In a directory this user cannot write, it could not be created at start.
        if os.geteuid() != 0:
            locked = os.path.join(self.dir, "locked")
            os.mkdir(locked, 0o500)
            self.identity = os.path.join(locked, "identity.json")
            out = self.check()
            self.assertEqual(out.returncode, 73, out.stderr)
            self.assertIn(f"identity file {self.identity} does not exist and cannot be created",
                          out.stderr)

    def test_the_identity_file_is_checked(self):
        keygen(self.identity)
        self.assertEqual(self.check().returncode, 0)
        os.chmod(self.identity, 0o644)
        out = self.check()
        self.assertEqual(out.returncode, 77, out.stderr)
        self.assertIn(f"identity file {self.identity} is readable by group or others (mode "
                      f"0644); it holds a secret key: run 'chmod 600 {self.identity}'", out.stderr)
        with open(self.identity, "w") as f:
            f.write("not json")
        os.chmod(self.identity, 0o600)
        out = self.check()
        self.assertEqual(out.returncode, 65, out.stderr)
        self.assertIn(f"identity file {self.identity} is malformed", out.stderr)

    def test_ports_in_use_are_named(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as metrics:
            udp.bind(("127.0.0.1", self.udp_port))
            tcp.bind(("127.0.0.1", self.tcp_port))
            tcp.listen()
            metrics.bind(("127.0.0.1", self.metrics_port))
            metrics.listen()
            out = self.check()
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertIn(f"e3xd: udp listen 127.0.0.1:{self.udp_port} is in use (another e3xd, "
                          "or another program, listens there): Address already in use",
                          out.stderr)
            self.assertIn(f"e3xd: tcp listen 127.0.0.1:{self.tcp_port} is in use", out.stderr)
            self.assertIn(f"e3xd: metrics listen 127.0.0.1:{self.metrics_port} is in use",
                          out.stderr)
            # e3xd itself fails on the port, and leaves no new identity behind.
            out = subprocess.run([E3XD, "--config", self.config()], capture_output=True,
                                 text=True, timeout=10)
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertIn("cannot listen", out.stderr)
            self.assertFalse(os.path.exists(self.identity), "a failed start created an identity")
        self.assertEqual(self.check().returncode, 0)

    def test_a_metrics_port_in_use_stops_the_start_before_the_identity(self):
        # Only the metrics port is taken: the network's own ports bind, and the metrics
        # listener (which starts with its module, after the identity) is checked first.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as metrics:
            metrics.bind(("127.0.0.1", self.metrics_port))
            metrics.listen()
            out = subprocess.run([E3XD, "--config", self.config()], capture_output=True,
                                 text=True, timeout=10)
            self.assertNotEqual(out.returncode, 0, out.stderr)
            self.assertIn(f"metrics listen 127.0.0.1:{self.metrics_port} is in use", out.stderr)
            self.assertFalse(os.path.exists(self.identity), "a failed start created an identity")

    def test_a_control_socket_in_use_or_not_a_socket(self):
        with open(self.socket, "w") as f:
            f.write("a file")
        out = self.check()
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"control socket {self.socket} exists and is not a socket", out.stderr)
        os.unlink(self.socket)
        # A running e3xd on that socket: its config is being checked before a reload, so its
        # own socket and ports are not conflicts.
        daemon = subprocess.Popen([E3XD, "--config", self.config()], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            # Answering, not only its socket bound: the ports are bound after the socket.
            self.assertEqual(wait_until_started(daemon, self.socket), "answered")
            out = self.check()
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(f"note: an e3xd is running on {self.socket}", out.stdout)
            # Another config on the same ports, with its own socket, is told they are taken.
            self.socket = os.path.join(self.dir, "other.sock")
            out = self.check()
            self.assertEqual(out.returncode, 1, out.stderr)
            self.assertIn(f"udp listen 127.0.0.1:{self.udp_port} is in use", out.stderr)
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)


if __name__ == "__main__":
    unittest.main()
