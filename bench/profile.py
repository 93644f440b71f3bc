#!/usr/bin/env python3
"""Flame graphs of cfsign's request path under load, for the README's
Performance section: `perf record` (Debian's linux-perf) on `cfsign serve`
with the bench configuration (production logging, audit trail on, both to
/dev/null) while `examples/loadgen.rs` drives one kind of request, then
inferno (`cargo install inferno`) draws the SVG.

    python3 bench/profile.py [--label before] [--seconds 6] [--case cache_hit|ecdsa_distinct|healthz]

Writes bench/profiles/<case>.svg (<case>-<label>.svg with --label) and prints the service's CPU per
request and each thread's share of the samples. Needs `perf` and `inferno-collapse-perf`/`inferno-flamegraph` on
PATH (or in $INFERNO_BIN).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

CASES = {
    "cache_hit": (None, run.CACHE_HIT),
    "ecdsa_distinct": (None, run.ECDSA_DISTINCT),
    "healthz": ("/healthz", None),
}


def tool(name):
    found = shutil.which(name) or os.path.join(os.environ.get("INFERNO_BIN", ""), name)
    if not os.path.exists(found):
        sys.exit(f"profile needs {name}")
    return found


def threads(folded):
    """Each thread's share of the samples (`tokio-rt-worker`, `cfsign-sign`,
    `cfsign-audit`, `tracing-appender`), in percent."""
    shares, total = {}, 0
    for line in folded.decode().splitlines():
        stack, _, count = line.rpartition(" ")
        name = stack.split(";", 1)[0].rstrip("0123456789").rstrip("-")
        shares[name] = shares.get(name, 0) + int(count)
        total += int(count)
    return {k: round(100 * v / total, 1) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])[:5]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", default="", help="appended to the file name (before/after comparisons)")
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    ap.add_argument("--seconds", type=float, default=6)
    args = ap.parse_args()
    out_dir = os.path.join(run.ROOT, "bench", "profiles")
    os.makedirs(out_dir, exist_ok=True)
    for case in args.case or ["cache_hit", "ecdsa_distinct"]:
        path, body = CASES[case]
        with tempfile.TemporaryDirectory() as tmp:
            svc = run.Service(tmp, stdout_null=True)
            token = run.hs256_token(svc.secret, "bench")
            run.load(svc, token, 1, body=body, path=path)
            data = os.path.join(tmp, "perf.data")
            perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "997", "--call-graph", "dwarf,16384",
                                     "-p", str(svc.proc.pid), "-o", data], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            result = run.load(svc, token, args.seconds, body=body, path=path)
            perf.send_signal(2)
            perf.wait()
            svc.stop()
            script = subprocess.run(["perf", "script", "-i", data], capture_output=True, check=True).stdout
            folded = subprocess.run([tool("inferno-collapse-perf")], input=script, capture_output=True,
                                    check=True).stdout
            svg = subprocess.run([tool("inferno-flamegraph"), "--title", f"cfsign {case} {args.label}".strip(),
                                  "--width", "1400"], input=folded, capture_output=True, check=True).stdout
            name = os.path.join(out_dir, f"{case}-{args.label}.svg" if args.label else f"{case}.svg")
            with open(name, "wb") as f:
                f.write(svg)
            print(f"{case} ({args.label}): {result['ok_per_s']:.0f}/s, service {result['service_cpu_us_per_request']} "
                  f"µs CPU per request (perf's unwinding included), loadgen {result['loadgen_cpu_us_per_request']} µs "
                  f"-> {name}; samples by thread: {threads(folded)}")


if __name__ == "__main__":
    main()
