"""Fixtures that run Microsoft's Azure SDK for Python, unmodified, against `keyrot emulator`.

The only things configured here are what a user of the real service would configure:
documented constructor options of the SDK, the CA bundle of the emulator, and name
resolution for `*.localhost` (the equivalent of an /etc/hosts entry, since glibc does not
resolve `*.localhost` on this machine).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SEED = HERE / "seed.toml"

# Identities declared in seed.toml.
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ADMIN_CLIENT_ID = "0a5c2d1e-1111-4b6e-9c1a-000000000001"
ADMIN_CLIENT_SECRET = "admin-secret-value-~1"
LISTER_CLIENT_ID = "0a5c2d1e-2222-4b6e-9c1a-000000000002"
LISTER_CLIENT_SECRET = "lister-secret-value-~2"

STARTUP_TIMEOUT_S = 30.0


# --- name resolution: *.localhost -> 127.0.0.1 (test environment, like /etc/hosts) ---------
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket API
    name = host.decode() if isinstance(host, (bytes, bytearray)) else host
    if isinstance(name, str) and (name == "localhost" or name.endswith(".localhost")):
        host = "127.0.0.1"
        if family == socket.AF_INET6:
            family = socket.AF_INET
    return _real_getaddrinfo(host, port, family, type, proto, flags)


socket.getaddrinfo = _getaddrinfo


def keyrot_bin() -> Path:
    raw = os.environ.get("KEYROT_BIN")
    path = Path(raw) if raw else Path("target/debug/keyrot")
    if not path.is_absolute():
        path = REPO / path
    return path


@dataclass
class Emulator:
    info: Dict[str, Any]
    proc: subprocess.Popen
    stderr_path: Path

    @property
    def port(self) -> int:
        return int(self.info["port"])

    @property
    def ca_path(self) -> str:
        return self.info["ca_path"]

    @property
    def authority_host(self) -> str:
        return self.info["authority_host"]

    @property
    def tenant_id(self) -> str:
        return self.info["tenant_id"]

    @property
    def admin_url(self) -> str:
        return self.info["admin_url"].rstrip("/")

    def vault_url(self, name: str) -> str:
        return self.info["vaults"][name]

    def stderr_tail(self, n: int = 60) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no stderr>"
        return "\n".join(lines[-n:])

    # --- admin API (same CA as the emulated services) ---------------------------------
    def admin(self, method: str, path: str, body: Optional[Any] = None) -> Any:
        ctx = ssl.create_default_context(cafile=self.ca_path)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.admin_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:  # pragma: no cover - diagnostic
            raise AssertionError(
                f"admin {method} {path} -> {e.code}: {e.read()[:2000]!r}"
            ) from None
        if not raw.strip():
            return None
        return json.loads(raw)

    def add_fault(self, **fields: Any) -> Any:
        fault = {
            "route": "*",
            "vault": None,
            "latency_ms": None,
            "status": None,
            "retry_after": None,
            "drop": False,
            "body": None,
            "count": None,
        }
        fault.update(fields)
        return self.admin("POST", "/faults", fault)

    def clear_faults(self) -> None:
        self.admin("DELETE", "/faults")

    def requests(self) -> List[Dict[str, Any]]:
        return self.admin("GET", "/requests")

    def clear_requests(self) -> None:
        self.admin("DELETE", "/requests")


def _die_with_parent() -> None:
    """preexec_fn: the emulator gets SIGTERM if this process dies without stopping it (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort, other platforms
        pass


def _start_emulator(seed: Path, state_dir: Path) -> Emulator:
    binary = keyrot_bin()
    if not binary.exists():
        pytest.fail(f"keyrot binary not found at {binary} (build it with `cargo build` or set KEYROT_BIN)")
    stderr_path = state_dir / "emulator.stderr.log"
    stderr_f = open(stderr_path, "wb")
    cmd = [str(binary), "emulator", "--seed", str(seed), "--port", "0", "--state-dir", str(state_dir / "state")]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=stderr_f,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    stderr_f.close()

    line_box: List[bytes] = []

    def read_line() -> None:
        assert proc.stdout is not None
        line_box.append(proc.stdout.readline())

    reader = threading.Thread(target=read_line, daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT_S)
    line = line_box[0] if line_box else b""

    def fail(why: str) -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        err = stderr_path.read_text(errors="replace")[-6000:]
        pytest.fail(
            f"`{' '.join(cmd)}` {why} (exit code {proc.returncode}).\n"
            f"stdout line: {line!r}\n--- emulator stderr ---\n{err}",
            pytrace=False,
        )

    if not line:
        fail(f"printed no JSON line within {STARTUP_TIMEOUT_S:.0f}s")
    try:
        info = json.loads(line)
    except ValueError:
        fail("printed a first stdout line that is not JSON")
    for key in ("port", "ca_path", "authority_host", "tenant_id", "admin_url", "vaults"):
        if key not in info:
            fail(f"printed a JSON line without {key!r}")
    return Emulator(info=info, proc=proc, stderr_path=stderr_path)


def _stop_emulator(emu: Emulator) -> None:
    if emu.proc.poll() is None:
        emu.proc.send_signal(signal.SIGTERM)
        try:
            emu.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emu.proc.kill()
            emu.proc.wait()
    if emu.proc.stdout is not None:
        emu.proc.stdout.close()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    state_dir = tmp_path_factory.mktemp("emulator")
    emu = _start_emulator(SEED, state_dir)
    try:
        yield emu
    finally:
        _stop_emulator(emu)


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts and ends without injected faults."""
    if "emulator" not in request.fixturenames:
        yield
        return
    emu: Emulator = request.getfixturevalue("emulator")
    emu.clear_faults()
    yield
    emu.clear_faults()


# --- SDK objects, built with documented options only ------------------------------------
def make_credential(emu: Emulator, client_id: str, secret: str):
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(
        emu.tenant_id,
        client_id,
        secret,
        authority=emu.authority_host,
        disable_instance_discovery=True,
        connection_verify=emu.ca_path,
    )


def client_kwargs(emu: Emulator) -> Dict[str, Any]:
    # The SDK compares the challenge resource with host *and* port; the emulator is not on 443.
    return {"verify_challenge_resource": False, "connection_verify": emu.ca_path}


@pytest.fixture(scope="session")
def admin_credential(emulator: Emulator):
    cred = make_credential(emulator, ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    yield cred
    cred.close()


@pytest.fixture(scope="session")
def secret_client(emulator: Emulator, admin_credential):
    from azure.keyvault.secrets import SecretClient

    client = SecretClient(emulator.vault_url("pyvault"), admin_credential, **client_kwargs(emulator))
    yield client
    client.close()


@pytest.fixture(scope="session")
def pages_client(emulator: Emulator, admin_credential):
    from azure.keyvault.secrets import SecretClient

    client = SecretClient(emulator.vault_url("pages"), admin_credential, **client_kwargs(emulator))
    yield client
    client.close()


@pytest.fixture(scope="session")
def certificate_client(emulator: Emulator, admin_credential):
    from azure.keyvault.certificates import CertificateClient

    client = CertificateClient(emulator.vault_url("pyvault"), admin_credential, **client_kwargs(emulator))
    yield client
    client.close()


@pytest.fixture(scope="session")
def key_client(emulator: Emulator, admin_credential):
    from azure.keyvault.keys import KeyClient

    client = KeyClient(emulator.vault_url("pyvault"), admin_credential, **client_kwargs(emulator))
    yield client
    client.close()


def unique(prefix: str) -> str:
    """A secret name no other test (or earlier run on the same emulator) uses."""
    return f"{prefix}-{int(time.time() * 1000) % 10**9}-{os.getpid()}"
