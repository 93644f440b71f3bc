#!/usr/bin/env python3
"""Signed URLs/s with a key held in AWS KMS, at signature-cache hit ratios of
0, 90 and 99 %, beside the same load on a file key: one invocation, one
machine, loopback only, bounded in time.

    python3 bench/kms.py [--seconds 10] [--skip-build] [--out bench/RESULTS-kms.json]

The KMS is moto's server (tests/kms/setup.sh installs it into
target/kms-venv): a Python stand-in on the same two cores, far slower than
the real service, so the 0 % column measures moto, not KMS. What the run
shows is how the cache takes KMS out of the path: the Sign calls per URL
(cfsign_key_operations_total over the URLs answered) and the hit ratio
cfsign itself reports (cfsign_signature_cache_total). Builds the release
binary with `--features kms` and the load generator (examples/loadgen.rs,
`--key-repeats R`: each key asked R times). Nothing here asserts: the
numbers go to the README (Keeping the key out of the pod).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import AUDIENCE, BIN, ISSUER, KEYS, LOADGEN, ROOT, free_port, hs256_token, sh  # noqa: E402

VENV = os.environ.get("CFSIGN_KMS_VENV", os.path.join(ROOT, "target/kms-venv"))
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}

CONFIG = """
[server]
public_metrics = true
max_concurrent_requests = 4096

[signing]
workers = 0

[auth]
issuers = ["{issuer}"]
audiences = ["{audience}"]
algorithms = ["HS256"]
hmac_secret_files = ["{secret}"]

[[distributions]]
name = "kms-rsa"
domain = "https://cdn.example.com"
hash_algorithm = "SHA256"
expiry_granularity = "5m"
keys = [{{ key_pair_id = "KBENCHKMSRSA01", kms = "{rsa}", region = "us-east-1", endpoint_url = "{moto}", active = true }}]

[[distributions]]
name = "kms-ec"
domain = "https://cdn.example.com"
hash_algorithm = "SHA256"
expiry_granularity = "5m"
keys = [{{ key_pair_id = "KBENCHKMSEC001", kms = "{ec}", region = "us-east-1", endpoint_url = "{moto}", active = true }}]

[[distributions]]
name = "file-rsa"
domain = "https://cdn.example.com"
hash_algorithm = "SHA256"
expiry_granularity = "5m"
keys = [{{ key_pair_id = "KBENCHFILE0001", private_key_file = "{file}", active = true }}]

[[grants]]
name = "bench"
subjects = ["bench"]
distributions = ["kms-rsa", "kms-ec", "file-rsa"]
allow = ["/*"]
max_ttl = "7d"
"""


def wait_port(port, seconds=30):
    import socket
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def counters(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(("cfsign_signature_cache_total{", "cfsign_key_operations_total{")):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def delta(after, before, prefix, *labels):
    return sum(v - before.get(k, 0.0) for k, v in after.items()
               if k.startswith(prefix) and all(label in k for label in labels))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/RESULTS-kms.json"))
    args = ap.parse_args()
    if not os.path.exists(os.path.join(VENV, "bin/moto_server")):
        sys.exit("no moto: run tests/kms/setup.sh first")
    if not args.skip_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "--features", "kms", "--bin", "cfsign",
                        "--example", "loadgen"], cwd=ROOT, check=True)

    tmp = tempfile.mkdtemp(prefix="cfsign-bench-kms-")
    moto_port = free_port()
    moto = subprocess.Popen([os.path.join(VENV, "bin/moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    svc = None
    try:
        wait_port(moto_port)
        endpoint = f"http://127.0.0.1:{moto_port}"
        env = dict(os.environ, **AWS_ENV)
        keys = {}
        for spec in ["RSA_2048", "ECC_NIST_P256"]:
            made = sh([os.path.join(VENV, "bin/python"), os.path.join(ROOT, "tests/kms/keys.py"), endpoint,
                       "create", spec], env=env)
            keys[spec] = json.loads(made)["arn"]
        secret = os.urandom(32)
        with open(os.path.join(tmp, "secret"), "wb") as f:
            f.write(secret)
        config = os.path.join(tmp, "bench.toml")
        with open(config, "w") as f:
            f.write(CONFIG.format(issuer=ISSUER, audience=AUDIENCE, secret=os.path.join(tmp, "secret"),
                                  rsa=keys["RSA_2048"], ec=keys["ECC_NIST_P256"], moto=endpoint,
                                  file=os.path.join(KEYS, "rsa2048.pem")))
        port = free_port()
        svc_env = {k: v for k, v in env.items() if not k.startswith("CFSIGN_") and k != "RUST_LOG"}
        log = open(os.path.join(tmp, "service.log"), "w")
        proc = subprocess.Popen([BIN, "serve", "--config", config, "--listen", f"127.0.0.1:{port}",
                                 "--log-format", "json"], stdout=subprocess.DEVNULL, stderr=log, env=svc_env)
        wait_port(port)

        class Svc:
            def url(self, path="/v1/signed-urls"):
                return f"http://127.0.0.1:{port}{path}"

            def cpu_seconds(self):
                with open(f"/proc/{proc.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        svc = Svc()
        token = hs256_token(secret, "bench")
        rows = []
        for dist in ["file-rsa", "kms-rsa", "kms-ec"]:
            for repeats, label in [(1, "0 %"), (10, "90 %"), (100, "99 %")]:
                # A prefix per run: every run starts with an empty cache for its keys.
                body = ('{"distribution":"%s","key":"r%d/{n}.pdf","ttl_seconds":3600}' % (dist, len(rows)))
                before = counters(port)
                result = drive(svc, token, args.seconds, body, repeats)
                after = counters(port)
                hits = delta(after, before, "cfsign_signature_cache_total{", 'result="hit"')
                misses = delta(after, before, "cfsign_signature_cache_total{", 'result="miss"')
                signs_ok = delta(after, before, "cfsign_key_operations_total{", 'result="ok"')
                remote_failed = delta(after, before, "cfsign_key_operations_total{") - signs_ok
                answered = result["ok"]
                row = {
                    "key": dist, "target_hit_ratio": label, "ok_per_s": result["ok_per_s"],
                    "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
                    "overloaded_503": result["overloaded_503"], "other": result["other"], "errors": result["errors"],
                    "hit_ratio": round(hits / max(hits + misses, 1), 4),
                    "kms_signs": int(signs_ok), "kms_failed": int(remote_failed),
                    "kms_signs_per_url": round(signs_ok / max(answered, 1), 4),
                    "service_cores": result["service_cores"],
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
        proc.terminate()
        proc.wait(timeout=25)
        log.close()
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    with open(args.out, "w") as f:
        json.dump({"seconds": args.seconds, "nproc": os.cpu_count(), "rows": rows}, f, indent=1)
    print("\n| key | cache hit ratio (asked / measured) | URLs/s | p50 ms | p99 ms | KMS Sign calls per URL | not 200 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['key']} | {r['target_hit_ratio']} / {r['hit_ratio'] * 100:.1f} % | {r['ok_per_s']:,.0f} | "
              f"{r['p50_ms']} | {r['p99_ms']} | {r['kms_signs_per_url']} | "
              f"{r['overloaded_503'] + r['other'] + r['errors']} |")


def drive(svc, token, seconds, body, repeats, concurrency=64):
    """examples/loadgen.rs in closed loop, each key asked `repeats` times."""
    cmd = [LOADGEN, "--url", svc.url(), "--token", token, "--rate", "0", "--concurrency", str(concurrency),
           "--duration", str(seconds), "--body", body, "--key-repeats", str(repeats)]
    cpu0, started = svc.cpu_seconds(), time.monotonic()
    result = json.loads(sh(cmd))
    result["service_cores"] = round((svc.cpu_seconds() - cpu0) / (time.monotonic() - started), 2)
    return result


if __name__ == "__main__":
    main()
