#!/usr/bin/env python3
"""Accepted vs offered load: does cfsign's throughput hold up past its capacity?

Starts `cfsign serve` with bench/run.py's benchmark configuration (signing
`queue_depth` 64 unless `--queue-depth`), measures the closed-loop peak (64
connections, as bench/run.py's saturation run), then offers fixed rates in
open loop (examples/loadgen.rs, up to 4,096 in flight) at each `--factors`
multiple of that peak. Each step records the accepted rate, the 503s and
their p99, and where the CPU went: the signing threads, the runtime thread
(per-thread times from /proc) and the load generator, which shares the two
cores. `--repeat` sweeps, each with a fresh peak; the report keeps every
sweep and the per-factor median.

    python3 bench/curve.py [--seconds 6] [--repeat 3] [--factors 0.5,0.9,1,1.2,1.5,2,3] [--out FILE]

Two ratios per factor: accepted vs the closed-loop peak just before, and vs
the best accepted rate of the same sweep in open loop (open-loop traffic
costs both processes more CPU per request than closed-loop traffic at the
same rate, so the two peaks differ). Nothing here asserts.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (bench/run.py: Service, tokens, load)
import overload  # noqa: E402  (its Service finds the port without the INFO log line)


def thread_cpu(pid):
    """CPU seconds per thread group: signers, runtime threads, the rest."""
    groups = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # the thread ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        group = "signers" if name.startswith("cfsign-sign") else "runtime" if name == "tokio-rt-worker" else "other"
        groups[group] = groups.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return groups


def step(svc, token, seconds, rate=0):
    """One load run; closed loop when `rate` is 0."""
    before, started = thread_cpu(svc.proc.pid), time.monotonic()
    r = bench.load(svc, token, seconds, rate=rate, concurrency=4096 if rate else 64, sample_rss=False)
    after, wall = thread_cpu(svc.proc.pid), time.monotonic() - started
    cores = {g: round((after.get(g, 0) - before.get(g, 0)) / wall, 2) for g in ("signers", "runtime")}
    return {"offered_per_s": rate or None, "accepted_per_s": r["ok_per_s"], "overloaded_503": r["overloaded_503"],
            "ok_p99_ms": r["p99_ms"], "overloaded_p99_ms": r["overloaded_p99_ms"], "errors": r["errors"],
            "other": r["other"], "signer_cores": cores["signers"], "runtime_cores": cores["runtime"],
            "loadgen_cores": r["loadgen_cores"]}


def sweep(svc, token, seconds, factors):
    peak = step(svc, token, seconds)
    steps = {f: step(svc, token, seconds, rate=int(peak["accepted_per_s"] * f)) for f in factors}
    best_open = max(s["accepted_per_s"] for s in steps.values()) or 1
    for s in steps.values():
        s["vs_closed_loop_peak"] = round(s["accepted_per_s"] / max(peak["accepted_per_s"], 1), 3)
        s["vs_best_open_loop"] = round(s["accepted_per_s"] / best_open, 3)
    return {"closed_loop_peak": peak, "steps": {str(f): s for f, s in steps.items()}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=6, help="length of each step (default 6)")
    ap.add_argument("--repeat", type=int, default=3, help="sweeps (default 3)")
    ap.add_argument("--factors", default="0.5,0.9,1,1.2,1.5,2,3", help="offered rates, as multiples of the peak")
    ap.add_argument("--queue-depth", type=int, default=64, help="signing.queue_depth (default 64)")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON report here")
    args = ap.parse_args()
    factors = [float(f) for f in args.factors.split(",")]
    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "cfsign", "--example", "loadgen"],
                       cwd=bench.ROOT, check=True)
    report = {"machine": {"cores": os.cpu_count(), "cpu": bench.cpu_model(), "kernel": os.uname().release},
              "seconds_per_step": args.seconds, "queue_depth": args.queue_depth}
    with tempfile.TemporaryDirectory() as tmp:
        svc = overload.Service(tmp, queue_depth=args.queue_depth)
        token = bench.hs256_token(svc.secret, "bench")
        bench.load(svc, token, 2)  # warm-up
        sweeps = []
        for n in range(max(1, args.repeat)):
            sweeps.append(sweep(svc, token, args.seconds, factors))
            print(f"curve: sweep {n + 1} done", file=sys.stderr)
        svc.stop()
    report["sweeps"] = sweeps
    report["median"] = {
        str(f): {key: statistics.median([s["steps"][str(f)][key] for s in sweeps])
                 for key in ("accepted_per_s", "vs_closed_loop_peak", "vs_best_open_loop", "overloaded_p99_ms",
                             "signer_cores", "runtime_cores", "loadgen_cores")}
        for f in factors
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
