#!/usr/bin/env python3
"""cfsign's peers, re-measured on this machine: canned-policy CloudFront signed URLs/s.

One invocation measures, one after another and each pinned to core 0 (`taskset -c 0`):
  - cfsign itself (examples/peer_loop.rs: `Signer::sign_url`, OpenSSL backend, key loaded once);
  - `openssl speed -seconds N rsa2048`, single-core RSA-2048 signs/s (the reference);
  - botocore + cryptography: `CloudFrontSigner(key_id, rsa_signer)`, the key loaded once,
    `rsa_signer` = `private_key.sign(msg, PKCS1v15(), SHA1())`, `generate_presigned_url`;
  - @aws-sdk/cloudfront-signer: `getSignedUrl({url, keyPairId, privateKey, dateLessThan})`
    as documented, the PEM string passed (and re-parsed) on every call;
  - the `cloudfront_sign` crate: `get_signed_url` (it parses the PKCS#1 PEM on every call).
Each peer signs distinct URLs in-process, in a loop, for a warm-up and then `--seconds`,
with the RSA-2048 key tests/fixtures/keys/rsa2048.pem. The first and last URL of every
peer are checked (Expires, Signature, Key-Pair-Id, and the RSA-SHA1 signature verified
with `openssl dgst`), so a broken peer reports an error, not a number.

    python3 bench/peers.py [--seconds 5] [--warmup 1] [--out FILE]

Prints one JSON object (and writes it to FILE): openssl_rsa2048_sign_per_s_1core and
peers.NAME.{urls_per_s, vs_openssl, version} (or peers.NAME.error); exits 1 if a peer failed.
Installs what is missing first, without root: tests/differential/setup.sh (the JS SDK),
a pinned venv in target/bench-peers/venv (botocore, cryptography; the differential venv's
awscli has neither a plain `botocore` nor `cryptography`), and a release build of
bench/peers/cloudfront_sign into target/bench-peers/cargo. Needs python3, node/npm,
cargo, openssl and taskset (util-linux); reaches PyPI, npm and crates.io on first run.
"""

import argparse
import base64
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "bench", "peers")
KEY = os.path.join(ROOT, "tests", "fixtures", "keys", "rsa2048.pem")
WORK = os.path.join(ROOT, "target", "bench-peers")
VENV = os.path.join(WORK, "venv")
NODE_MODULES = os.path.join(ROOT, "target", "differential", "node", "node_modules")
CRATE_DIR = os.path.join(HERE, "cloudfront_sign")
CFSIGN_BIN = os.path.join(ROOT, "target/release/examples/peer_loop")
CRATE_BIN = os.path.join(WORK, "cargo", "release", "cloudfront-sign-peer")
PY_PINS = {"botocore": "1.44.8", "cryptography": "50.0.2"}
JS_SIGNER_VERSION = "3.1166.0"  # as pinned in tests/differential/setup.sh
URL_PREFIX = "https://d111111abcdef8.cloudfront.net/bench/"
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
PIN = ["taskset", "-c", "0"]


def log(msg):
    print(f"peers: {msg}", file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


# --- setup ------------------------------------------------------------------------------

def check_tools():
    missing = [t for t in ("taskset", "openssl", "node", "npm", "cargo", "python3") if not shutil.which(t)]
    if missing:
        sys.exit(f"peers: missing tools: {', '.join(missing)} (taskset is in util-linux)")


def ensure_js_sdk():
    pkg = os.path.join(NODE_MODULES, "@aws-sdk", "cloudfront-signer", "package.json")
    if os.path.exists(pkg) and json.load(open(pkg))["version"] == JS_SIGNER_VERSION:
        return
    log("installing the JS SDK: bash tests/differential/setup.sh")
    subprocess.run(["bash", os.path.join(ROOT, "tests", "differential", "setup.sh")], check=True,
                   stdout=sys.stderr)


def venv_versions(python):
    code = "import json, botocore, cryptography as c; " \
           "print(json.dumps({'botocore': botocore.__version__, 'cryptography': c.__version__}))"
    try:
        return json.loads(sh([python, "-c", code]))
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None


def ensure_venv():
    python = os.path.join(VENV, "bin", "python")
    if venv_versions(python) == PY_PINS:
        return python
    log(f"creating {os.path.relpath(VENV, ROOT)} with {PY_PINS}")
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    pins = [f"{name}=={version}" for name, version in PY_PINS.items()]
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
                   check=True, stdout=sys.stderr)
    return python


def build_crate():
    log("cargo build --release bench/peers/cloudfront_sign (no-op when up to date)")
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(WORK, "cargo"))
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--manifest-path",
                    os.path.join(CRATE_DIR, "Cargo.toml")], check=True, env=env, stdout=sys.stderr)


def build_cfsign():
    log("cargo build --release --example peer_loop (cfsign itself, as a peer)")
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--example", "peer_loop"],
                   cwd=ROOT, check=True, stdout=sys.stderr)


def crate_versions():
    lock = open(os.path.join(CRATE_DIR, "Cargo.lock")).read()
    found = re.findall(r'name = "(cloudfront_sign|rsa)"\nversion = "([^"]+)"', lock)
    return dict(found, rustc=sh(["rustc", "--version"]).split()[1])


def key_files(tmp):
    """The fixture key as given (PKCS#8), as PKCS#1 (what cloudfront_sign parses), and its public key."""
    pkcs1, pub = os.path.join(tmp, "rsa2048.pkcs1.pem"), os.path.join(tmp, "rsa2048.pub.pem")
    sh(["openssl", "pkey", "-in", KEY, "-traditional", "-out", pkcs1])
    sh(["openssl", "pkey", "-in", KEY, "-pubout", "-out", pub])
    return {"pkcs8": KEY, "pkcs1": pkcs1, "pub": pub}


# --- measuring --------------------------------------------------------------------------

def openssl_speed(seconds):
    out = sh(PIN + ["openssl", "speed", "-seconds", str(int(max(1, seconds))), "rsa2048"])
    # "rsa 2048 bits 0.000709s 0.000021s   1410.4  47619.0"
    m = re.search(r"^\s*rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)", out, re.M)
    if not m:
        raise RuntimeError("cannot parse openssl speed output:\n" + out)
    return float(m.group(1))


def canned_policy(resource, expires):
    return ('{"Statement":[{"Resource":"%s","Condition":{"DateLessThan":{"AWS:EpochTime":%d}}}]}'
            % (resource, expires))


def check_url(url, expires, pub, tmp):
    """Raises ValueError unless url is a canned-policy signed URL that verifies with pub."""
    base, _, query = (url or "").partition("?")
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    if not base.startswith(URL_PREFIX) or sorted(params) != ["Expires", "Key-Pair-Id", "Signature"]:
        raise ValueError(f"not a canned-policy signed URL: {url!r}")
    if params["Expires"] != str(expires) or params["Key-Pair-Id"] != KEY_PAIR_ID:
        raise ValueError(f"wrong Expires or Key-Pair-Id: {url!r}")
    sig = base64.b64decode(params["Signature"].translate(str.maketrans("-_~", "+=/")))
    policy, sig_file = os.path.join(tmp, "policy"), os.path.join(tmp, "sig")
    open(policy, "w").write(canned_policy(base, expires))
    open(sig_file, "wb").write(sig)
    try:
        sh(["openssl", "dgst", "-sha1", "-verify", pub, "-signature", sig_file, policy])
    except subprocess.CalledProcessError:
        raise ValueError(f"signature does not verify: {url!r}") from None


def run_peer(cmd, expires, pub, tmp):
    """Runs one peer pinned to core 0; returns its result after checking the URLs it made."""
    out = json.loads(sh(PIN + cmd).strip().splitlines()[-1])
    for url in (out["first_url"], out["last_url"]):
        check_url(url, expires, pub, tmp)
    if out["count"] < 1 or out["elapsed"] <= 0:
        raise ValueError(f"no URL signed in the timed loop: {out}")
    return {"urls_per_s": round(out["count"] / out["elapsed"], 1), "urls": out["count"],
            "elapsed_s": round(out["elapsed"], 3), "version": out.get("version"),
            "first_url": out["first_url"]}


def peer_commands(args, keys, python, expires):
    common = [KEY_PAIR_ID, str(expires), str(args.seconds), str(args.warmup)]
    return {
        "cfsign": [CFSIGN_BIN, keys["pkcs8"], *common],
        "botocore+cryptography": [python, os.path.join(HERE, "botocore_peer.py"), keys["pkcs8"], *common],
        "@aws-sdk/cloudfront-signer": ["node", os.path.join(HERE, "aws_sdk_peer.cjs"), NODE_MODULES,
                                       keys["pkcs8"], *common],
        "cloudfront_sign (crate)": [CRATE_BIN, keys["pkcs1"], *common],
    }


def setup():
    """Installs/builds every peer; returns (venv python, {peer: error}) for the ones that failed."""
    check_tools()
    python, failed = None, {}
    steps = {"cfsign": build_cfsign, "@aws-sdk/cloudfront-signer": ensure_js_sdk, "botocore+cryptography": ensure_venv,
             "cloudfront_sign (crate)": build_crate}
    for name, step in steps.items():
        try:
            result = step()
            python = result if name == "botocore+cryptography" else python
        except (OSError, subprocess.CalledProcessError) as e:
            failed[name] = f"setup failed: {e}"
    return python, failed


def measure(args, python, failed, tmp):
    keys, expires = key_files(tmp), int(time.time()) + 3600
    log(f"openssl speed rsa2048 on core 0 ({args.seconds:g} s sign + verify)")
    report = {"openssl_rsa2048_sign_per_s_1core": openssl_speed(args.seconds), "peers": {}}
    for name, cmd in peer_commands(args, keys, python, expires).items():
        if name in failed:
            report["peers"][name] = {"error": failed[name]}
            continue
        log(f"{name} on core 0 ({args.warmup:g} s warm-up + {args.seconds:g} s)")
        try:
            report["peers"][name] = run_peer(cmd, expires, keys["pub"], tmp)
        except (OSError, subprocess.CalledProcessError, ValueError, KeyError) as e:
            detail = getattr(e, "stderr", None) or ""
            report["peers"][name] = {"error": f"{e} {detail}".strip()[-2000:]}
    return report


def finish(report, args):
    ref = report["openssl_rsa2048_sign_per_s_1core"]
    for peer in report["peers"].values():
        if "urls_per_s" in peer:
            peer["vs_openssl"] = round(peer["urls_per_s"] / ref, 3)
    crate = report["peers"].get("cloudfront_sign (crate)", {})
    if "urls_per_s" in crate:
        crate["version"] = crate_versions()
    report.update(seconds=args.seconds, warmup=args.warmup, pinned_to="taskset -c 0",
                  openssl=sh(["openssl", "version"]).strip(), cpu=cpu_model(),
                  nproc=os.cpu_count(), kernel=platform.release())
    return report


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5, help="timed loop per peer (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0, help="untimed warm-up per peer (default 1)")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()
    python, failed = setup()
    with tempfile.TemporaryDirectory(prefix="cfsign-peers-") as tmp:
        report = finish(measure(args, python, failed, tmp), args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 1 if any("error" in p for p in report["peers"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
