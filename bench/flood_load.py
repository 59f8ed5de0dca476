"""Hostile load on e3xd (issue 5, "Load and hostile traffic"): two legitimate daemons A and B
on loopback (127.0.0.1), and e3x_flood sending to B from other loopback addresses, one mode
after another. For each phase (a quiet baseline, every flood mode, a quiet phase after) it
measures B's CPU (utime + stime from /proc/PID/stat) and resident memory (VmRSS), A's view of
the legitimate traffic (ping round trips, message delivery, the speed test when e3xctl has
one), whether both peers stayed up with the same tokens, and B's drop counters by reason.

Used by bench/run-flood.sh (60 s per mode, prints the table) and by
tests/integration/test_flood.py (a few seconds per mode, asserts). Python stdlib only.
"""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# name -> (e3x_flood --mode, source addresses). Each flood comes from addresses other than the
# legitimate peers' 127.0.0.1; "unknown-keys-256" spreads over 256 addresses to reach the
# global limit rather than the per-address one.
MODES = {
    "random": ("random", 1),
    "unknown-keys": ("unknown-keys", 1),
    "bad-auth": ("bad-auth", 1),
    "replay": ("replay", 1),
    "unknown-keys-256": ("unknown-keys", 256),
}
# Counters that mean a flood packet reached X25519 (one each) before being dropped.
X25519_DROPS = ("policy", "unauthenticated", "stale")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """Once a second: B's RSS, and both peers' state, token and path (a new token is a lost
    session; a new path means packets went to someone else)."""

    def __init__(self, a, b, views):
        super().__init__(daemon=True)
        self.a, self.b, self.views = a, b, views
        self.rss = []
        self.problems = []
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            self.rss.append(rss_kib(self.b.process.pid))
            for me, other in ((self.a, self.b), (self.b, self.a)):
                try:
                    peer = me.result("peer", peer=other.name)
                except Exception as error:  # noqa: BLE001 -- recorded, judged by the caller
                    self.problems.append(f"{me.name}: peer {other.name}: {error}")
                    continue
                if view(peer) != self.views[me.name]:
                    self.problems.append(f"{me.name} sees {other.name} {peer['state']} "
                                         f"token {peer['token']} path {peer['path']}")
            self.stop_event.wait(1.0)

    def stop(self):
        self.stop_event.set()
        self.join()


def view(peer):
    return (peer["state"], peer["token"], peer["path"])


def views_of(a, b):
    """How each side sees the other once both are up: the reference a phase is judged by."""
    harness.wait_until(lambda: harness.both_up(a, b), 60, "both up")
    return {a.name: view(a.result("peer", peer=b.name)),
            b.name: view(b.result("peer", peer=a.name))}


def speedtest_available(a):
    reply = a.request("speedtest", peer="nobody")
    return not (not reply.get("ok") and reply["error"]["code"] == "unknown_command")


def legit_traffic(a, b, seconds, speedtest_seconds, messages):
    """What A sees of B for `seconds` (at least 3 pings): a speed test (if any), then a batch of
    1 KB messages queued at once, and pings every 0.2 s while they are delivered."""
    out = {"ping_ms": [], "ping_failures": 0}
    deadline = time.monotonic() + seconds
    if speedtest_seconds:
        reply = a.request("speedtest", timeout=speedtest_seconds + 30, peer=b.name,
                          seconds=speedtest_seconds)
        out["speedtest"] = reply.get("result") if reply.get("ok") else reply.get("error")
    started = time.monotonic()
    for i in range(messages):
        a.result("send", peer=b.name, text="m" * 1000 + str(i))

    def delivered():
        if messages and "messages_per_s" not in out and \
                a.result("status")["messages"]["outbox"] == 0:
            out["messages_per_s"] = messages / (time.monotonic() - started)

    while time.monotonic() < deadline or len(out["ping_ms"]) + out["ping_failures"] < 3:
        reply = a.request("ping", peer=b.name)
        if reply.get("ok"):
            out["ping_ms"].append(reply["result"]["rtt_ms"])
        else:
            out["ping_failures"] += 1
        delivered()
        time.sleep(0.2)
    if messages and "messages_per_s" not in out:
        harness.wait_until(lambda: a.result("status")["messages"]["outbox"] == 0, 60,
                           "the outbox to empty", interval=0.05)
        delivered()
    return out


def flood_command(flood_bin, mode, sources, seconds, a, b):
    command = [flood_bin, "--target", f"127.0.0.1:{b.udp_port}", "--mode", mode,
               "--seconds", str(seconds), "--target-key", b.key, "--peer-key", a.key,
               "--identity", a.identity]
    if sources > 1:
        command += ["--source", "127.0.1.1", "--sources", str(sources)]
    else:
        command += ["--source", "127.0.0.2"]
    return command


def phase(name, a, b, seconds, flood=None, speedtest_seconds=0, messages=0):
    sampler = Sampler(a, b, views_of(a, b))
    before = b.result("status")["dropped"]
    cpu_before, started = cpu_seconds(b.process.pid), time.monotonic()
    process = None
    if flood:
        process = subprocess.Popen(flood, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True)
        time.sleep(min(2.0, seconds / 4))  # let the flood reach full rate first
    sampler.start()
    legit = legit_traffic(a, b, seconds - (time.monotonic() - started), speedtest_seconds,
                          messages)
    flooded = None
    if process:
        stdout, _ = process.communicate(timeout=seconds + 60)
        flooded = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else None
        if process.returncode != 0:
            raise RuntimeError(f"e3x_flood exited {process.returncode}")
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(b.process.pid) - cpu_before
    sampler.stop()
    after = b.result("status")["dropped"]
    drops = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    return {
        "phase": name,
        "seconds": elapsed,
        "flood": flooded,
        "cpu_percent": 100.0 * cpu / elapsed,
        "rss_kib_max": max(sampler.rss) if sampler.rss else rss_kib(b.process.pid),
        "rss_kib_end": rss_kib(b.process.pid),
        "drops": drops,
        "x25519_per_s": sum(drops.get(k, 0) for k in X25519_DROPS) / elapsed,
        "problems": sampler.problems,
        "samples": len(sampler.rss),
        "alive": a.process.poll() is None and b.process.poll() is None,
        **legit,
    }


def start_pair(test):
    a, b = harness.connected_pair(test)
    a.log_level = b.log_level = "info"
    a.start()
    b.start()
    return a, b


def run(test, flood_bin, seconds, quiet_seconds, modes=tuple(MODES), messages=20,
        speedtest_seconds=None, pair=None):
    """Starts A and B (through a harness.DaemonTestCase-like `test`) unless `pair` gives them,
    floods B, returns the list of phase results. `speedtest_seconds` None: use the speed test
    if there is one. Each phase is judged against how the peers saw each other at its start."""
    a, b = pair or start_pair(test)
    if speedtest_seconds is None:
        speedtest_seconds = min(10, max(2, seconds // 4)) if speedtest_available(a) else 0
    results = [phase("baseline", a, b, quiet_seconds, None, speedtest_seconds,
                     messages)]
    for name in modes:
        mode, sources = MODES[name]
        command = flood_command(flood_bin, mode, sources, seconds, a, b)
        results.append(phase(name, a, b, seconds, command, speedtest_seconds,
                             messages))
    results.append(phase("after", a, b, quiet_seconds, None, speedtest_seconds,
                         messages))
    return results


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else float("nan")


def table(results):
    """A Markdown table of the phases."""
    lines = ["| phase | flood pps | B CPU % | B RSS max (MiB) | X25519/s | rate_limited/s | "
             "ping median / max (ms) | msgs/s | speed test | peers | drops at B |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        flood = f"{r['flood']['pps']:,.0f}" if r["flood"] else "-"
        speed = r.get("speedtest")
        if isinstance(speed, dict) and "mbit_per_s" in speed:
            speed = f"{speed['mbit_per_s']:.1f} Mbit/s, {speed.get('loss_percent', 0):.1f}% lost"
        elif speed:
            speed = f"error: {speed.get('code', speed)}" if isinstance(speed, dict) else str(speed)
        else:
            speed = "-"
        peers = "up, same tokens" if not r["problems"] else \
            f"session changed ({len(r['problems'])} of {r['samples']} samples)"
        if not r["alive"]:
            peers = "A DAEMON DIED"
        drops = ", ".join(f"{k} {v:,}" for k, v in sorted(r["drops"].items())) or "-"
        pings = r["ping_ms"]
        ping = f"{median(pings):.2f} / {max(pings):.2f}" if pings else "-"
        if r["ping_failures"]:
            ping += f" ({r['ping_failures']} failed)"
        rate_limited = r["drops"].get("rate_limited", 0) / r["seconds"]
        msgs = f"{r['messages_per_s']:.1f}" if "messages_per_s" in r else "-"
        lines.append(f"| {r['phase']} | {flood} | {r['cpu_percent']:.1f} | "
                     f"{r['rss_kib_max'] / 1024:.1f} | {r['x25519_per_s']:.0f} | "
                     f"{rate_limited:,.0f} | {ping} | {msgs} | {speed} | {peers} | {drops} |")
    return "\n".join(lines)


class Scratch:
    """What run() needs of a test case outside unittest: daemons in a temporary directory,
    stopped (and the directory removed) by close()."""

    def __init__(self):
        import tempfile
        self.root = tempfile.mkdtemp(prefix="e3xd-flood-")
        self.daemons = []

    def daemon(self, name, **options):
        d = harness.Daemon(self.root, name, **options)
        self.daemons.append(d)
        return d

    def close(self, keep=False):
        import shutil
        for d in self.daemons:
            d.stop()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)


def main():
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood-bin", required=True)
    parser.add_argument("--seconds", type=int, default=60, help="flood seconds per mode")
    parser.add_argument("--quiet-seconds", type=int, default=20, help="baseline and after")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    scratch = Scratch()
    ok = False
    try:
        results = run(scratch, args.flood_bin, args.seconds, args.quiet_seconds,
                      modes=args.modes.split(","))
        print(table(results))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        ok = all(r["alive"] and not r["problems"] for r in results)
        for r in results:
            for problem in r["problems"][:5]:
                print(f"{r['phase']}: {problem}")
    finally:
        scratch.close(keep=not ok)
        if not ok:
            print(f"logs kept in {scratch.root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
