#!/usr/bin/env python3
"""The peers of keyrot in scripts/bench, each run as a whole process (interpreter start
included, since that is what a pipeline step pays):

  bench_peer.py list --vault URL [--kinds secrets,keys] [--versions]
      the official Azure SDK for Python listing the properties of every item of the given
      vaults and kinds, one listing after another (the peer of `keyrot check`); prints one
      JSON line {"items": N, "per_listing": {...}}.
  bench_peer.py get --vault URL --name NAME [--name NAME ...] --output FILE
      the SDK's `SecretClient.get_secret`, one name after another, as a script would (the peer
      of `keyrot fetch --name`); writes {name: value} to FILE (mode 0600), prints
      {"secrets": N}.
  bench_peer.py az ARG...
      the Azure CLI (`az ARG...`), run in this interpreter, which must be the one azure-cli is
      installed in: the same as its `az` launcher (`python -m azure.cli`).

The SDK modes take their credentials from the variables keyrot reads (AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST, KEYROT_CA_CERT). Every mode resolves
`*.localhost` to the loopback address (the emulator's hosts), as keyrot does; nothing else
changes.
"""

import argparse
import json
import os
import runpy
import socket
import sys

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # /etc/hosts for *.localhost
    name = host.decode() if isinstance(host, (bytes, bytearray)) else host
    if isinstance(name, str) and (name == "localhost" or name.endswith(".localhost")):
        host, family = "127.0.0.1", (socket.AF_INET if family == socket.AF_INET6 else family)
    return _real_getaddrinfo(host, port, family, type, proto, flags)


socket.getaddrinfo = _getaddrinfo


def _credential_and_options():
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
    return cred, {"verify_challenge_resource": False, "connection_verify": ca}


def list_items(args) -> int:
    cred, opts = _credential_and_options()
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


def get_secrets(args) -> int:
    from azure.keyvault.secrets import SecretClient

    cred, opts = _credential_and_options()
    client = SecretClient(args.vault, cred, **opts)
    values = {name: client.get_secret(name).value for name in args.name}
    client.close()
    cred.close()
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    print(json.dumps({"secrets": len(values)}))
    return 0


def main() -> int:
    if sys.argv[1:2] == ["az"]:
        sys.argv = ["az", *sys.argv[2:]]
        runpy.run_module("azure.cli", run_name="__main__", alter_sys=True)
        return 0  # azure.cli exits by itself; not reached
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    lp = sub.add_parser("list")
    lp.add_argument("--vault", action="append", required=True, help="vault URL (repeatable)")
    lp.add_argument("--kinds", default="secrets")
    lp.add_argument("--versions", action="store_true", help="also list the versions of every secret")
    gp = sub.add_parser("get")
    gp.add_argument("--vault", required=True, help="vault URL")
    gp.add_argument("--name", action="append", required=True, help="secret name (repeatable)")
    gp.add_argument("--output", required=True, help="where the values go (JSON, mode 0600)")
    args = ap.parse_args()
    return list_items(args) if args.mode == "list" else get_secrets(args)


if __name__ == "__main__":
    sys.exit(main())
