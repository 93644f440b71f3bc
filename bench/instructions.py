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

Each kind runs twice, with 1,024 and 3,072 requests; the difference over
2,048 is the cost of one request. Under valgrind SHA-256 runs without the
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kinds", nargs="*", metavar="{healthz,cache_hit}")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/examples/allocations"))
    args = ap.parse_args()
    args.kinds = args.kinds or ["healthz", "cache_hit"]
    for kind in args.kinds:
        if kind not in ("healthz", "cache_hit"):
            ap.error(f"{kind}: not healthz or cache_hit")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            few, many = (instructions(args.binary, kind, n, tmp) for n in (1024, 3072))
            print(f"{kind}: {(many - few) // 2048:,} instructions per request in the request path")


if __name__ == "__main__":
    main()
