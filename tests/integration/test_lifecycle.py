"""Process lifecycle: a killed peer times out, comes back with a new session; SIGTERM stops
e3xd within 2 s; the SEQ mark survives restarts; the identity file is guarded."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import unittest

from harness import (DaemonTestCase, E3XD, both_up, connected_pair, free_port, wait_until,
                     wait_until_started)


class Lifecycle(DaemonTestCase):
    def test_killed_peer_times_out_then_returns_with_a_new_token(self):
        # Keepalive 2 s: the last packet from B is at most 2 s before A's keepalive, which
        # times out 30 s later (PROTOCOL.md 9), so "down" must show within 35 s.
        a, b = connected_pair(self, keepalive=2)
        a.start()
        b.start()
        pa, _ = wait_until(lambda: both_up(a, b), 20, "both up")
        old_token = pa["token"]
        b.kill()
        killed_at = time.monotonic()
        # The last packet B sent arrived before it died.
        down = wait_until(lambda: (p := a.peer("b"))["state"] == "down" and p, 40,
                          "A to see B down")
        self.assertLessEqual(time.monotonic() - killed_at, 35)
        self.assertEqual(down["reason"], "timeout")
        self.assertIsNone(down["path"])
        b.start()
        pa, _ = wait_until(lambda: both_up(a, b), 30, "both up again")
        self.assertNotEqual(pa["token"], old_token, "a restarted peer must have a new session")

    def test_tcp_peer_restart_redials_and_starts_a_new_session(self):
        a, b = connected_pair(self, transport="tcp")
        a.start()
        b.start()
        pa, _ = wait_until(lambda: both_up(a, b), 20, "both up over TCP")
        old_token = pa["token"]
        b.stop()
        b.start()
        pa, pb = wait_until(lambda: (x := both_up(a, b)) and x[0]["token"] != old_token and x,
                            30, "a new session over TCP after B restarted")
        self.assertTrue(pa["path"].startswith("tcp4 "), pa["path"])
        self.assertTrue(pb["path"].startswith("tcp4 "), pb["path"])
        self.assertEqual(a.ctl("ping", "b")["path"]["type"], "tcp4")

    def test_peer_roams_to_a_new_address(self):
        a, b = connected_pair(self)
        b.peers[0]["endpoints"] = []  # B follows A wherever A's authenticated packets come from
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        self.assertEqual(b.peer("a")["path"], f"udp4 127.0.0.1:{a.udp_port}")
        a.stop()
        a.udp_port = free_port()
        a.start()
        pb = wait_until(lambda: (p := b.peer("a"))["path"] == f"udp4 127.0.0.1:{a.udp_port}"
                        and p["state"] == "up" and p, 20, "B to follow A to its new port")
        self.assertIn(f"udp4 127.0.0.1:{a.udp_port}", pb["paths"])
        self.assertEqual(b.ctl("ping", "a")["path"]["port"], b.udp_port)
        self.assertIn("path changed to", b.log_text())

    def test_sigterm_stops_within_two_seconds_and_removes_the_socket(self):
        a, b = connected_pair(self)
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        started = time.monotonic()
        a.process.send_signal(signal.SIGTERM)
        code = a.process.wait(timeout=5)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(code, 0)
        self.assertFalse(os.path.exists(a.socket))
        self.assertIn("shutting down", a.log_text())

    def test_seq_mark_covers_every_seq_across_restarts(self):
        a, b = connected_pair(self, keepalive=1)
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")
        mark_file = os.path.join(a.dir, "seq.json")
        # One mark per peer (PROTOCOL.md 10.4), covering every SEQ sent to it.
        b_hashname = a.peer("b")["hashname"]
        with open(mark_file) as f:
            mark = json.load(f)["peers"][b_hashname]["used"]
        self.assertEqual(os.stat(mark_file).st_mode & 0o777, 0o600)
        sent = a.peer("b")["seq_sent"]
        self.assertGreaterEqual(mark, sent)
        a.stop()
        a.start()
        wait_until(lambda: both_up(a, b), 30, "both up after A restarted")
        self.assertGreater(a.peer("b")["seq_sent"], mark,
                           "after a restart SEQs must start above the recorded mark")

    def test_insecure_identity_is_refused_with_a_hint(self):
        a = self.daemon("a", udp_port=0)
        a.write_config()
        os.chmod(a.identity, 0o644)
        out = subprocess.run([E3XD, "--config", a.config_path], capture_output=True, text=True,
                             timeout=10)
        self.assertEqual(out.returncode, 77, out.stderr)
        self.assertIn("chmod 600", out.stderr)

    def test_identity_is_created_with_mode_0600(self):
        a = self.daemon("a", udp_port=0)
        os.remove(a.identity)
        a.start()
        self.assertEqual(os.stat(a.identity).st_mode & 0o777, 0o600)
        self.assertEqual(oct(os.stat(a.socket).st_mode & 0o777), oct(0o660))
        self.assertEqual(a.ctl("status")["key"], json.load(open(a.identity))["3a"])

    def test_log_level_option_overrides_the_config(self):
        a = self.daemon("a", udp_port=free_port(), log_level="debug")
        a.write_config()
        for level, expect_info in (("warn", False), ("info", True)):
            out = subprocess.Popen([E3XD, "--config", a.config_path, "--log-level", level],
                                   stderr=subprocess.PIPE, text=True)
            self.assertEqual(wait_until_started(out, a.socket), "answered")
            out.send_signal(signal.SIGTERM)
            _, log = out.communicate(timeout=5)
            self.assertEqual("running as" in log, expect_info, f"--log-level {level}: {log}")
            self.assertNotIn(" debug ", log)

    def test_sigterm_as_soon_as_the_socket_appears_stops_cleanly(self):
        """The control socket exists before the identity is loaded (a busy socket must stop
        the start first), so a service manager or script that treats it as "up" may signal at
        once: e3xd must stop by its own handler (exit 0, socket removed), never die of the
        default action with the socket left behind."""
        a = self.daemon("a", udp_port=free_port())
        a.write_config()
        for attempt in range(10):
            process = subprocess.Popen([E3XD, "--config", a.config_path],
                                       stderr=subprocess.PIPE, text=True)
            while not os.path.exists(a.socket) and process.poll() is None:
                time.sleep(0.0005)
            process.send_signal(signal.SIGTERM)
            _, log = process.communicate(timeout=5)
            self.assertEqual(process.returncode, 0, f"attempt {attempt}: {log}")
            self.assertIn("SIGTERM: shutting down", log)
            self.assertFalse(os.path.exists(a.socket), f"attempt {attempt}: socket left behind")

    def test_embedded_default_config(self):
        workdir = os.path.join(self.root, "default")
        os.makedirs(workdir)
        process = subprocess.Popen([E3XD], cwd=workdir, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            socket_path = os.path.join(workdir, "e3xd-state", "control.sock")
            # Not the socket's existence: it is bound before the identity is made.
            outcome = wait_until_started(process, socket_path)
            if outcome == "answered":
                identity_mode = os.stat(
                    os.path.join(workdir, "e3xd-state", "identity.json")).st_mode & 0o777
        finally:
            process.terminate()
            out, _ = process.communicate(timeout=5)
        self.assertEqual(outcome, "answered", f"e3xd exited {process.returncode}: {out}")
        self.assertEqual(identity_mode, 0o600)
        self.assertIn("embedded default", out)
        self.assertIn("udp4 127.0.0.1:42424", out)

    def test_systemd_notify_and_journal_format(self):
        """Under systemd: READY after binding, WATCHDOG pings, RELOADING then READY around a
        reload, STOPPING on SIGTERM; log lines without timestamps, with syslog priorities."""
        a = self.daemon("a", udp_port=free_port())
        a.write_config()
        notify_path = os.path.join(self.root, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="400000",
                   JOURNAL_STREAM="8:1234")
        process = subprocess.Popen([E3XD, "--config", a.config_path], env=env,
                                   stderr=subprocess.PIPE, text=True)
        try:
            def next_message():
                return notify.recv(4096).decode()
            messages = [next_message()]
            self.assertTrue(messages[0].startswith("READY=1"), messages)
            self.assertTrue(os.path.exists(a.socket), "READY before the control socket existed")
            watchdogs = 0
            while watchdogs < 2:  # pings at half of WATCHDOG_USEC
                message = next_message()
                watchdogs += message == "WATCHDOG=1"
            process.send_signal(signal.SIGHUP)
            message = next_message()
            while message == "WATCHDOG=1":
                message = next_message()
            self.assertTrue(message.startswith("RELOADING=1\nMONOTONIC_USEC="), message)
            message = next_message()
            while message == "WATCHDOG=1":
                message = next_message()
            self.assertTrue(message.startswith("READY=1"), message)
            process.send_signal(signal.SIGTERM)
            message = next_message()
            while message == "WATCHDOG=1":
                message = next_message()
            self.assertEqual(message, "STOPPING=1")
            _, log = process.communicate(timeout=5)
        finally:
            if process.poll() is None:
                process.kill()
            notify.close()
        lines = [line for line in log.splitlines() if line]
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[0-7]>")
            self.assertNotRegex(line, r"\d{4}-\d{2}-\d{2}", "journald adds the timestamps")
        self.assertTrue(any(line.startswith("<6>") and "running as" in line for line in lines))


if __name__ == "__main__":
    unittest.main()
