"""Makes keys in the local KMS for tests/it/kms/, with boto3
(installed with moto by tests/kms/setup.sh), through the real KMS API.

    keys.py ENDPOINT create KEY_SPEC [KEY_USAGE]  -> {"arn", "public_key_pem"}

Credentials and region come from the environment (the test sets moto's
fake ones); nothing here talks to anything but ENDPOINT.
"""
import base64
import json
import sys

import boto3


def main(endpoint, command, *args):
    kms = boto3.client("kms", endpoint_url=endpoint)
    if command == "create":
        spec, usage = args[0], (args[1] if len(args) > 1 else "SIGN_VERIFY")
        meta = kms.create_key(KeySpec=spec, KeyUsage=usage, Description="cfsign test")["KeyMetadata"]
        out = {"arn": meta["Arn"], "public_key_pem": ""}
        if usage == "SIGN_VERIFY":
            der = kms.get_public_key(KeyId=meta["Arn"])["PublicKey"]
            body = base64.b64encode(der).decode()
            lines = [body[i : i + 64] for i in range(0, len(body), 64)]
            out["public_key_pem"] = "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"
        print(json.dumps(out))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(*sys.argv[1:])
