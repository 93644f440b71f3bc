"""A peer for bench/peers.py: botocore's CloudFrontSigner with a `cryptography` RSA signer.

The key is loaded once; rsa_signer signs SHA-1 PKCS#1 v1.5, as in botocore's
documented example. Signs distinct canned-policy URLs for WARMUP then SECONDS
seconds and prints one JSON line: count, elapsed (timed part), first/last URL, versions.

    python botocore_peer.py PEM_FILE KEY_PAIR_ID EXPIRES SECONDS WARMUP
"""

import datetime
import json
import sys
import time

import botocore
import cryptography
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def make_signer(pem_file, key_pair_id):
    with open(pem_file, "rb") as f:
        private_key = serialization.load_pem_private_key(f.read(), password=None)

    def rsa_signer(message):
        return private_key.sign(message, padding.PKCS1v15(), hashes.SHA1())

    return CloudFrontSigner(key_pair_id, rsa_signer)


def run(signer, expires, start, seconds):
    """Signs URLs numbered from start for `seconds`: (next number, count, elapsed, first, last)."""
    i, first, last = start, None, None
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        url = f"https://d111111abcdef8.cloudfront.net/bench/{i}.pdf"
        last = signer.generate_presigned_url(url, date_less_than=expires)
        first = first or last
        i += 1
    return i, i - start, time.perf_counter() - t0, first, last


def main():
    pem_file, key_pair_id, expires, seconds, warmup = sys.argv[1:6]
    signer = make_signer(pem_file, key_pair_id)
    expires = datetime.datetime.fromtimestamp(int(expires), datetime.timezone.utc)
    nxt, *_ = run(signer, expires, 0, float(warmup))
    _, count, elapsed, first, last = run(signer, expires, nxt, float(seconds))
    version = {"botocore": botocore.__version__, "cryptography": cryptography.__version__,
               "openssl": backend.openssl_version_text(), "python": sys.version.split()[0]}
    print(json.dumps({"count": count, "elapsed": elapsed, "first_url": first,
                      "last_url": last, "version": version}))


if __name__ == "__main__":
    main()
