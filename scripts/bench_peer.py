#!/usr/bin/env python3
"""The peer of `keyrot check` in scripts/bench: the official Azure SDK for Python listing
the properties of every item of the given vaults and kinds, one listing after another.

Credentials come from the same environment variables keyrot reads (AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST, KEYROT_CA_CERT). Prints one JSON
line {"items": N, "per_listing": {...}}. Timed by the caller as a whole process, interpreter
start included, since that is what a pipeline step pays.
"""

import argparse
import json
import os
import socket
import sys

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # /etc/hosts for *.localhost
    name = host.decode() if isinstance(host, (bytes, bytearray)) else host
    if isinstance(name, str) and (name == "localhost" or name.endswith(".localhost")):
        host, family = "127.0.0.1", (socket.AF_INET if family == socket.AF_INET6 else family)
    return _real_getaddrinfo(host, port, family, type, proto, flags)


socket.getaddrinfo = _getaddrinfo


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vault", action="append", required=True, help="vault URL (repeatable)")
    ap.add_argument("--kinds", default="secrets")
    ap.add_argument("--versions", action="store_true", help="also list the versions of every secret")
    args = ap.parse_args()

    from azure.identity import ClientSecretCredential

    ca = os.environ["KEYROT_CA_CERT"]
    cred = ClientSecretCredential(
        os.environ["AZURE_TENANT_ID"],
        os.environ["AZURE_CLIENT_ID"],
        os.environ["AZURE_CLIENT_SECRET"],
        authority=os.environ["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
        connection_verify=ca,
    )
    opts = {"verify_challenge_resource": False, "connection_verify": ca}
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    per = {}
    total = 0
    for url in args.vault:
        for kind in kinds:
            if kind == "secrets":
                from azure.keyvault.secrets import SecretClient

                client = SecretClient(url, cred, **opts)
                items = list(client.list_properties_of_secrets())
                if args.versions:
                    for p in items:
                        total += sum(1 for _ in client.list_properties_of_secret_versions(p.name))
            elif kind == "certificates":
                from azure.keyvault.certificates import CertificateClient

                client = CertificateClient(url, cred, **opts)
                items = list(client.list_properties_of_certificates())
            elif kind == "keys":
                from azure.keyvault.keys import KeyClient

                client = KeyClient(url, cred, **opts)
                items = list(client.list_properties_of_keys())
            else:
                print(f"unknown kind {kind}", file=sys.stderr)
                return 2
            # What keyrot judges: the expiry of each item.
            expiring = sum(1 for p in items if p.expires_on is not None)
            per[f"{url} {kind}"] = {"items": len(items), "with_expiry": expiring}
            total += len(items)
            client.close()
    cred.close()
    print(json.dumps({"items": total, "per_listing": per}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
