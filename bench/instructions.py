#!/usr/bin/env python3
"""Instructions per request in the request path, counted by valgrind
(callgrind) on `examples/allocations`: the real service in process (every
layer, production logging, the audit trail on), counting only what runs
inside the stack's `oneshot` future, where the handler, the layers, the
span and the access line run. The count is the same from run to run (to
~1 %) whatever else the machine is doing, so a change to the request path
can be judged on a busy machine. It leaves out the kernel and hyper's
connection, and the log and audit writer threads: a loopback run
(`bench/ab.py`) includes them. (A whole-process count is not repeatable:
those threads wake by the clock, and a slower run wakes them more.)

    cargo build --release --example allocations
    python3 bench/instructions.py [healthz] [cache_hit] [--binary PATH]

With `--served`, `cfsign serve` itself (bench/run.py's configuration) runs
under callgrind and answers over one keep-alive loopback connection; the
count is of the connection's task, so hyper's parsing, its timers and the
writing of the answer count too (the kernel still does not):

    python3 bench/instructions.py --served [healthz] [cache_hit] [ecdsa_distinct] [--binary target/release/cfsign]

(`ecdsa_distinct`: a new resource each request, so every one is signed, by
the signing threads: their instructions are not counted, only the runtime
side of an ECDSA request.)

Each kind runs twice, with 1,024 and 3,072 requests (300 and 900 with
`--served`); the difference is the cost of one request. Under valgrind SHA-256 runs without the
CPU's SHA extensions, so the token cache's hashing counts more than it
costs.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The future `examples/allocations` drives each request through.
REQUEST_PATH = "<tower::util::oneshot::Oneshot<*>::poll"


def instructions(binary, kind, n, tmp):
    out = os.path.join(tmp, f"callgrind.{kind}.{n}")
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--toggle-collect={REQUEST_PATH}", f"--callgrind-out-file={out}",
         binary, kind],
        env={**os.environ, "ALLOCATIONS_N": str(n)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    found = re.search(r"Collected\s*:\s*(\d+)", run.stderr)
    if not found:
        sys.exit(f"no instruction count in valgrind's output:\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


# The task `http::serve` spawns for each connection.
CONNECTION_TASK = "cfsign::http::serve::serve::{{closure}}::{{closure}}"


def served(binary, kind, n, tmp):
    """Instructions in the connection task of `cfsign serve` for `n` requests."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import http.client
    import run as bench

    out = os.path.join(tmp, f"callgrind.served.{kind}.{n}")
    wrapper = os.path.join(tmp, "under-callgrind")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\nexec valgrind --tool=callgrind '--toggle-collect={CONNECTION_TASK}' "
                f"--callgrind-out-file={out} {binary} \"$@\"\n")
    os.chmod(wrapper, 0o755)
    bench.BIN = wrapper
    svc = bench.Service(tmp, stdout_null=True)
    try:
        token = bench.hs256_token(svc.secret, "bench")
        connection = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=60)
        for i in range(n):
            if kind == "healthz":
                connection.request("GET", "/healthz")
            else:
                body = bench.CACHE_HIT if kind == "cache_hit" else bench.ECDSA_DISTINCT.replace("{n}", str(i))
                connection.request("POST", "/v1/signed-urls", body=body,
                                   headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                sys.exit(f"{kind}: answered {answer.status}")
        connection.close()
    finally:
        svc.stop()
    with open(out) as f:
        totals = [int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:"))]
    if not totals:
        sys.exit(f"no instruction count in {out}")
    return max(totals)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kinds", nargs="*", metavar="{healthz,cache_hit,ecdsa_distinct}")
    ap.add_argument("--binary", help="examples/allocations, or cfsign with --served")
    ap.add_argument("--served", action="store_true", help="count in `cfsign serve`'s connection task, over loopback")
    args = ap.parse_args()
    if args.binary is None:
        args.binary = os.path.join(ROOT, "target/release", "cfsign" if args.served else "examples/allocations")
    args.kinds = args.kinds or ["healthz", "cache_hit"]
    for kind in args.kinds:
        if kind not in ("healthz", "cache_hit") and not (args.served and kind == "ecdsa_distinct"):
            ap.error(f"{kind}: not healthz or cache_hit (or, with --served, ecdsa_distinct)")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            if args.served:
                few, many = (served(args.binary, kind, n, tmp) for n in (300, 900))
                print(f"{kind}: {(many - few) // 600:,} instructions per request in the connection's task")
            else:
                few, many = (instructions(args.binary, kind, n, tmp) for n in (1024, 3072))
                print(f"{kind}: {(many - few) // 2048:,} instructions per request in the request path")


if __name__ == "__main__":
    main()
