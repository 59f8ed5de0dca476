"""`e3xctl speedtest` between two real daemons on loopback: a 2-second test delivers packets
with consistent counts, both daemons stay up and close the channel, and bad arguments are
refused with clear errors."""
import subprocess
import unittest

from harness import DaemonTestCase, E3XCTL, both_up, connected_pair, free_port, wait_until


class Speedtest(DaemonTestCase):
    def test_two_seconds_on_loopback(self):
        a, b = connected_pair(self)
        a.log_level = b.log_level = "info"
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")

        result = a.ctl("speedtest", "b", "--seconds", "2", "--size", "1000")
        self.assertEqual(result["peer"], "b")
        self.assertEqual(result["seconds"], 2)
        self.assertEqual(result["size"], 1000)
        self.assertGreater(result["sent"], 0)
        self.assertGreater(result["delivered"], 0)
        self.assertLessEqual(result["delivered"], result["sent"])
        self.assertEqual(result["delivered_bytes"], result["delivered"] * 1000)
        self.assertEqual(result["lost"], result["sent"] - result["delivered"])
        self.assertAlmostEqual(result["loss_percent"],
                               100.0 * result["lost"] / result["sent"], places=6)
        self.assertGreaterEqual(result["duration_s"], 2.0)
        # It stops when asked (2 s), not much later; the margin is for a loaded machine (a
        # sanitizer build on 2 busy cores), whose timers fire late.
        self.assertLess(result["duration_s"], 5.0)
        self.assertGreater(result["packets_per_s"], 0)
        self.assertAlmostEqual(result["mbit_per_s"],
                               result["packets_per_s"] * 1000 * 8 / 1e6, places=3)
        self.assertGreater(result["cpu_s"], 0)
        self.assertGreater(result["cpu_us_per_packet"], 0)
        self.assertGreater(result["receiver_cpu_us_per_packet"], 0)

        # Both daemons are still up, the channel is closed on both sides, and B counted it.
        pa, pb = wait_until(lambda: both_up(a, b), 5, "both still up")
        wait_until(lambda: a.peer("b")["channels"] == 0 and b.peer("a")["channels"] == 0, 15,
                   "the speedtest channel closed on both sides")
        self.assertGreaterEqual(pb["rx_packets"], result["delivered"])
        self.assertIn("speed test: receiving", b.log_text())
        self.assertEqual(a.ctl("ping", "b")["path"]["port"], a.udp_port)

        # The human output.
        out = subprocess.run([E3XCTL, "-s", a.socket, "speedtest", "b", "--seconds", "1"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"^speed test to b: 1\.\d s of 1400-byte packets\n")
        self.assertRegex(out.stdout, r"\n  delivered: \d+ packets, .* \(\d+\.\d\d% lost\)\n")
        self.assertRegex(out.stdout, r"\n  rate: \d+ packets/s, \d+\.\d Mbit/s\n")

    def test_bad_arguments(self):
        a, b = connected_pair(self)
        c = self.daemon("c", udp_port=free_port())  # configured at A, never started
        a.add_peer(c, [c.udp_endpoint()])
        a.start()
        b.start()
        wait_until(lambda: both_up(a, b), 20, "both up")

        def refused(*args):
            out = subprocess.run([E3XCTL, "-s", a.socket, "speedtest", *args],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 1, out)
            return out.stderr.strip()

        self.assertRegex(refused("b", "--size", "0"),
                         r"^e3xctl: bad_argument: \"size\" must be an integer from 32 to 1400")
        self.assertRegex(refused("b", "--size", "1401"),
                         r"^e3xctl: bad_argument: \"size\" must be an integer from 32 to 1400")
        self.assertRegex(refused("b", "--seconds", "0"),
                         r"^e3xctl: bad_argument: \"seconds\" must be an integer from 1 to 300")
        self.assertEqual(refused("nobody"), "e3xctl: unknown_peer: no peer named 'nobody'")

        # Over the socket directly: types are checked too.
        reply = a.request("speedtest", peer="b", size="big")
        self.assertEqual(reply["error"]["code"], "bad_argument")
        reply = a.request("speedtest")
        self.assertEqual(reply["error"]["code"], "bad_argument")

        # A peer that is not up.
        self.assertEqual(refused("c", "--seconds", "1"), "e3xctl: not_up: peer 'c' is not up")
        self.assertEqual(a.peer("b")["state"], "up")  # A is fine


if __name__ == "__main__":
    unittest.main()
