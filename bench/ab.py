#!/usr/bin/env python3
"""A/B of two cfsign binaries on one kind of request, for judging a change
to the request path on this noisy machine: the two alternate round by round
(A B, B A, ...), each round a fresh `cfsign serve` on the bench configuration
(production logging, audit on, stdout to /dev/null), and the medians of
signed URLs/s and of the service's CPU per request are printed.

    cp target/release/cfsign /tmp/cfsign-before   # then change, rebuild
    python3 bench/ab.py /tmp/cfsign-before target/release/cfsign cache_hit [--rounds 4] [--seconds 4]

Cases are bench/profile.py's: cache_hit, ecdsa_distinct, healthz. CPU per
request moves less with the machine's other load than the rate does.
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile  # noqa: E402
import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("case", choices=sorted(profile.CASES))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=4)
    args = ap.parse_args()
    path, body = profile.CASES[args.case]
    results = {args.a: [], args.b: []}
    for r in range(args.rounds):
        for binary in [args.a, args.b] if r % 2 == 0 else [args.b, args.a]:
            run.BIN = binary
            with tempfile.TemporaryDirectory() as tmp:
                svc = run.Service(tmp, stdout_null=True)
                token = run.hs256_token(svc.secret, "bench")
                run.load(svc, token, 1, body=body, path=path)
                x = run.load(svc, token, args.seconds, body=body, path=path)
                svc.stop()
                results[binary].append(x)
    for binary, runs in results.items():
        rate = statistics.median(x["ok_per_s"] for x in runs)
        cpu = statistics.median(x["service_cpu_us_per_request"] for x in runs)
        rss = max(x["peak_rss_mb"] for x in runs)
        print(f"{binary}: {rate:,.0f}/s, {cpu} µs service CPU per request (runs "
              f"{[x['service_cpu_us_per_request'] for x in runs]}), peak RSS {rss} MB")


if __name__ == "__main__":
    main()
