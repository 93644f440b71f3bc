#!/usr/bin/env python3
"""Signed URLs/s with a key on a PKCS#11 token (SoftHSM2) vs the same key in
a file, in one run of one service: the same RSA-2048 and ECDSA P-256
reference keys, one distribution each way, every request a new object (no
signature cache hit), through bench/run.py's load generator and service.

    python3 bench/keys.py [--seconds 10] [--repeat 3] [--skip-build] [--out bench/RESULTS-keys.json]

Needs softhsm2 (apt-get install softhsm2). Builds release with
`--features pkcs11`. Nothing here asserts: the numbers go to the README's
"Keeping the key out of the pod" section.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

MODULE = next(p for p in ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"]
              if os.path.exists(p))
PIN = "20261202"

CONFIG = """
[server]
public_metrics = true
max_concurrent_requests = 4096
request_timeout = "30s"

[signing]
workers = 0
queue_depth = {queue_depth}
token_cache_entries = {token_cache}

[auth]
issuers = ["{issuer}"]
audiences = ["{audience}"]
algorithms = ["HS256", "RS256"]
hmac_secret_files = ["{secret}"]
public_keys = [{{ kid = "bench-rs", path = "{jwt_pub}" }}]

[[distributions]]
name = "file-rsa"
domain = "https://cdn.example.com"
keys = [{{ key_pair_id = "KBENCH00000001", private_key_file = "{rsa}" }}]

[[distributions]]
name = "file-ecdsa"
domain = "https://cdn.example.com"
keys = [{{ key_pair_id = "KBENCH00000002", private_key_file = "{ec}" }}]

[[distributions]]
name = "token-rsa"
domain = "https://cdn.example.com"
keys = [{{ key_pair_id = "KBENCH00000003", pkcs11 = "TOKEN_RSA", pin_file = "PIN_FILE", max_concurrency = CONCURRENCY }}]

[[distributions]]
name = "token-ecdsa"
domain = "https://cdn.example.com"
keys = [{{ key_pair_id = "KBENCH00000004", pkcs11 = "TOKEN_EC", pin_file = "PIN_FILE", max_concurrency = CONCURRENCY }}]

[[grants]]
name = "bench"
subjects = ["bench"]
distributions = ["file-rsa", "file-ecdsa", "token-rsa", "token-ecdsa"]
allow = ["/*"]
max_ttl = "7d"
"""


def softhsm(tmp):
    """A token `bench` in `tmp` with the reference keys imported."""
    tokens = os.path.join(tmp, "tokens")
    os.mkdir(tokens)
    conf = os.path.join(tmp, "softhsm2.conf")
    with open(conf, "w") as f:
        f.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = conf
    bench.sh(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", "so-" + PIN])
    for name, label, key_id in [("rsa2048.pem", "rsa", "01"), ("ec-p256.pem", "ec", "02")]:
        pkcs8 = os.path.join(tmp, label + ".p8")
        bench.sh(["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", os.path.join(bench.KEYS, name), "-out", pkcs8])
        bench.sh(["softhsm2-util", "--import", pkcs8, "--token", "bench", "--label", label, "--id", key_id,
                  "--pin", PIN])
    pin_file = os.path.join(tmp, "pin")
    with open(pin_file, "w") as f:
        f.write(PIN)
    os.chmod(pin_file, 0o600)
    return pin_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=os.cpu_count(), help="max_concurrency of the token keys")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "--features", "pkcs11", "--bin", "cfsign",
                        "--example", "loadgen"], cwd=bench.ROOT, check=True)
    report = {"machine": {"cores": os.cpu_count(), "cpu": bench.cpu_model()}, "seconds_per_run": args.seconds,
              "repeat": args.repeat, "token_max_concurrency": args.concurrency,
              "softhsm": bench.sh(["softhsm2-util", "--version"]).strip()}
    with tempfile.TemporaryDirectory() as tmp:
        pin_file = softhsm(tmp)
        uri = "pkcs11:token=bench;object={}?module-path=" + MODULE
        bench.CONFIG = (CONFIG.replace("TOKEN_RSA", uri.format("rsa")).replace("TOKEN_EC", uri.format("ec"))
                        .replace("PIN_FILE", pin_file).replace("CONCURRENCY", str(args.concurrency)))
        svc = bench.Service(tmp)
        try:
            token = bench.hs256_token(svc.secret, "bench")
            for name in ["file-rsa", "token-rsa", "file-ecdsa", "token-ecdsa"]:
                body = '{"distribution":"%s","key":"bench/{n}.pdf","ttl_seconds":3600}' % name
                run = bench.repeated(args.repeat, lambda: bench.load(svc, token, args.seconds, body=body))
                report[name] = {k: run[k] for k in ["ok_per_s", "p50_ms", "p99_ms", "runs_ok_per_s",
                                                    "service_cores"] if k in run}
                print(name, report[name], file=sys.stderr)
        finally:
            svc.stop()
    for kind in ["rsa", "ecdsa"]:
        report[f"token_vs_file_{kind}"] = round(report[f"token-{kind}"]["ok_per_s"] /
                                                max(report[f"file-{kind}"]["ok_per_s"], 1), 3)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
