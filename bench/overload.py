#!/usr/bin/env python3
"""cfsign under overload: a bounded load test at 3x capacity.

"At 3x capacity for 60 s: no crash, memory flat, 503s fast, no accepted
request lost (every 200 carries a URL that verifies)."

1. builds release (`cfsign`, `examples/loadgen.rs`, `examples/verify_urls.rs`);
2. starts `cfsign serve` with bench/run.py's benchmark configuration (a small
   signing queue, 64, so shedding shows);
3. measures capacity: a 2 s warm-up, then `--capacity-seconds` of closed-loop
   load (64 workers) -> accepted signs/s;
4. offers `--factor` (3) x capacity in open loop for `--seconds` (60), up to
   4096 requests in flight, sampling the service's RSS every second;
   loadgen saves the URL of every 200 (`--save-urls`);
5. checks the service still answers /healthz, compares its own count of
   200s on /v1/signed-urls with loadgen's, stops it (SIGTERM) and reads its
   exit code;
6. verifies every saved URL in process (`examples/verify_urls.rs`, with the
   fixture public keys);
7. prints one JSON report with a `checks` object; exit 1 if a check fails.

    python3 bench/overload.py [--seconds 60] [--skip-build] [--out FILE]

Same machine, loopback only: loadgen competes with the service for the
cores, so the report includes what other processes used meanwhile.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (bench/run.py: Service, tokens, paths)

ROOT = bench.ROOT
VERIFY = os.path.join(ROOT, "target/release/examples/verify_urls")
PUBLIC_KEYS = {
    "KBENCH00000001": os.path.join(bench.KEYS, "rsa2048.pub.pem"),  # the active key of "reports"
    "KBENCH00000002": os.path.join(bench.KEYS, "ec-p256.pub.pem"),
}


class Service(bench.Service):
    """bench/run.py's Service, finding the port without reading stdout.

    Its `_port()` waits for the "cfsign listening" line on stdout, but it
    also sets RUST_LOG=warn, which filters that INFO line out: readline()
    then blocks for ever (its 10 s deadline is only checked between lines).
    Here the listening socket is found in /proc instead.
    """

    def _port(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cfsign exited ({self.proc.returncode}) before listening")
            port = listening_port(self.proc.pid)
            if port:
                return port
            time.sleep(0.01)
        raise RuntimeError("cfsign did not listen within 20 s")


def listening_port(pid):
    """The port of a TCP socket that `pid` listens on (IPv4), or None."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                return int(fields[1].split(":")[1], 16)
    return None


# The bench grant covers two distributions, so a request must name one; `{n}`
# (the request's number, see loadgen.rs) keeps every key, policy and
# signature distinct: no signature-cache hit flatters the numbers.
BODY = '{"distribution":"reports","key":"bench/{n}.pdf","ttl_seconds":3600}'


def loadgen(svc, token, seconds, rate=0, concurrency=64, save_urls=None, on_tick=None):
    """Runs examples/loadgen.rs; calls on_tick() about once a second while it runs."""
    cmd = [bench.LOADGEN, "--url", svc.url(), "--token", token, "--rate", str(rate),
           "--concurrency", str(concurrency), "--duration", str(seconds), "--body", BODY]
    if save_urls:
        cmd += ["--save-urls", save_urls]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    next_tick = time.monotonic()
    while proc.poll() is None:
        if on_tick and time.monotonic() >= next_tick:
            on_tick()
            next_tick += 1.0
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen exited {proc.returncode}: {err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out)
    result["loadgen_cpu_s"] = round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 2)
    return result


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def metric_sum(svc, name, *labels):
    """Sum of the samples of `name` whose label set contains every `labels`."""
    with urllib.request.urlopen(svc.url("/metrics"), timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(label in line for label in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total


def healthz(svc):
    try:
        with urllib.request.urlopen(svc.url("/healthz"), timeout=5) as r:
            return r.status
    except Exception as e:  # noqa: BLE001
        return f"error: {e}"


def drain(stream, sink):
    """Keeps reading the service's stdout so a full pipe never blocks it."""
    for line in stream:
        sink.append(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60, help="overload duration (default 60)")
    ap.add_argument("--capacity-seconds", type=float, default=5, help="closed-loop capacity run (default 5)")
    ap.add_argument("--factor", type=float, default=3.0, help="offered load / capacity (default 3)")
    ap.add_argument("--queue-depth", type=int, default=64, help="signing.queue_depth (default 64)")
    ap.add_argument("--concurrency", type=int, default=4096, help="loadgen's in-flight cap in open loop")
    ap.add_argument("--max-503-p99-ms", type=float, default=None,
                    help="'503s fast' threshold (default: below the accepted requests' p50)")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON report here")
    args = ap.parse_args()

    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "cfsign", "--example", "loadgen",
                        "--example", "verify_urls"], cwd=ROOT, check=True)
    report = {
        "machine": {"cores": os.cpu_count(), "cpu": bench.cpu_model(), "kernel": os.uname().release,
                    "loadavg_before": [round(x, 2) for x in os.getloadavg()]},
        "config": {"seconds": args.seconds, "factor": args.factor, "queue_depth": args.queue_depth,
                   "loadgen_concurrency": args.concurrency},
    }
    with tempfile.TemporaryDirectory() as tmp:
        svc = Service(tmp, queue_depth=args.queue_depth)
        logs = []
        threading.Thread(target=drain, args=(svc.proc.stdout, logs), daemon=True).start()
        token = bench.hs256_token(svc.secret, "bench")
        report["startup_to_ready_ms"] = round(svc.ready_after * 1000, 1)
        report["idle_rss_mb"] = round(svc.rss_mb(), 1)

        # Capacity: closed loop, after a warm-up.
        loadgen(svc, token, 2)
        cap = loadgen(svc, token, args.capacity_seconds)
        capacity = cap["ok_per_s"]
        if capacity <= 0 or cap["other"] or cap["errors"]:
            svc.stop()
            sys.exit(f"capacity run failed (200s: {cap['ok']}, other statuses: {cap['other']}, "
                     f"errors: {cap['errors']}): nothing to overload")
        report["capacity"] = {k: cap[k] for k in ("ok_per_s", "ok", "overloaded_503", "other", "errors", "p50_ms", "p99_ms")}

        # Overload: open loop at factor x capacity, RSS every second.
        rate = int(capacity * args.factor)
        urls = os.path.join(tmp, "urls.txt")
        rss, alive = [], []
        ok_200_before = metric_sum(svc, "cfsign_http_requests_total", 'route="/v1/signed-urls"', 'status="200"')

        def tick():
            alive.append(svc.proc.poll() is None)
            if alive[-1]:
                rss.append(round(svc.rss_mb(), 1))

        busy0, total0 = cpu_jiffies()
        svc_cpu0 = svc.cpu_seconds()
        load0 = os.getloadavg()
        started = time.monotonic()
        over = loadgen(svc, token, args.seconds, rate=rate, concurrency=args.concurrency, save_urls=urls,
                       on_tick=tick)
        wall = time.monotonic() - started
        busy1, total1 = cpu_jiffies()
        still_running = svc.proc.poll() is None
        svc_cpu = svc.cpu_seconds() - svc_cpu0 if still_running else None
        machine_busy_s = (busy1 - busy0) / os.sysconf("SC_CLK_TCK")
        health = healthz(svc) if still_running else "exited"
        ok_200_server = (metric_sum(svc, "cfsign_http_requests_total", 'route="/v1/signed-urls"', 'status="200"')
                         - ok_200_before) if still_running else None
        rss_after = round(svc.rss_mb(), 1) if still_running else None
        svc.stop()
        exit_code = svc.proc.returncode

        # Every saved URL, verified in process.
        keys = [a for kid, path in PUBLIC_KEYS.items() for a in ("--public-key", f"{kid}={path}")]
        v = subprocess.run([VERIFY, *keys, "--file", urls, "--allow-empty"], capture_output=True, text=True)
        if v.returncode not in (0, 1):
            raise RuntimeError(f"verify_urls failed ({v.returncode}): {v.stderr}")
        verification = json.loads(v.stdout)
        verification["exit_code"] = v.returncode

        panics = [line.strip() for line in logs if "panick" in line][:5]

    report["overload"] = {
        "offered_per_s": rate,
        "wall_s": round(wall, 2),
        "accepted_per_s": over["ok_per_s"],
        "accepted_vs_capacity": round(over["ok_per_s"] / capacity, 3) if capacity else None,
        "ok_200": over["ok"],
        "overloaded_503": over["overloaded_503"],
        "other_status": over["other"],
        "client_errors": over["errors"],
        "not_sent_loadgen_at_concurrency_cap": over["dropped"],
        "ok_p50_ms": over["p50_ms"], "ok_p99_ms": over["p99_ms"], "ok_p999_ms": over["p999_ms"],
        "overloaded_503_p50_ms": over["overloaded_p50_ms"], "overloaded_503_p99_ms": over["overloaded_p99_ms"],
        "server_counted_200": ok_200_server,
    }
    report["rss_mb"] = {
        "min": min(rss) if rss else None, "max": max(rss) if rss else None,
        "first": rss[0] if rss else None, "last": rss[-1] if rss else None,
        "after_load": rss_after, "samples": rss,
    }
    report["cpu"] = {
        "machine_busy_core_s": round(machine_busy_s, 1),
        "cfsign_core_s": round(svc_cpu, 1) if svc_cpu is not None else None,
        "loadgen_core_s": over["loadgen_cpu_s"],
        "other_processes_core_s": round(machine_busy_s - (svc_cpu or 0) - over["loadgen_cpu_s"], 1),
        "loadavg_during_start": [round(x, 2) for x in load0],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    report["verification"] = verification
    report["service"] = {"alive_every_second": all(alive), "healthz_after_load": health,
                         "exit_code_after_sigterm": exit_code, "panics_in_log": panics}

    half = len(rss) // 2
    max_503_p99 = args.max_503_p99_ms if args.max_503_p99_ms is not None else over["p50_ms"]
    checks = {
        "no_crash": all(alive) and still_running and health == 200 and exit_code == 0 and not panics,
        # Second half of the run never above the first half's peak (+10 % + 8 MB of slack).
        "memory_flat": bool(rss) and half > 0 and max(rss[half:]) <= max(rss[:half]) * 1.10 + 8,
        # Shed requests answered faster than half the accepted ones.
        "fast_503": over["overloaded_503"] > 0 and over["overloaded_p99_ms"] <= max_503_p99,
        "every_200_verifies": verification["total"] == over["ok"] and verification["valid"] == over["ok"]
                              and verification["distinct"] == over["ok"] and over["ok"] > 0,
        "server_and_client_agree_on_200s": ok_200_server == over["ok"],
        "no_other_status_or_client_error": over["other"] == 0 and over["errors"] == 0,
    }
    report["checks"] = checks
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
