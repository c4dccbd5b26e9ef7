"""`keyrot fetch --env-file` read back by a real dotenv parser (python-dotenv).

Values are written with Microsoft's SDK, fetched by keyrot, and must come back byte for byte:
quotes, `$`, `#`, backslashes, spaces and line breaks included.
"""

from __future__ import annotations

import os
import stat
import subprocess

from dotenv import dotenv_values

from conftest import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, keyrot_bin

HOSTILE = {
    "dotenv-plain": "plain-Value-123",
    "dotenv-dollar": "pa$$word ${HOME} $HOME #not-a-comment",
    "dotenv-quotes": "it's a \"quoted\" value\\with\\backslashes",
    "dotenv-multiline": "-----BEGIN KEY-----\nline two $x\r\nlast 'line'\n",
}


def test_env_file_round_trips_through_python_dotenv(emulator, secret_client, tmp_path):
    for name, value in HOSTILE.items():
        secret_client.set_secret(name, value)
    out = tmp_path / "app.env"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AZURE_CLIENT_ID": ADMIN_CLIENT_ID,
        "AZURE_CLIENT_SECRET": ADMIN_CLIENT_SECRET,
        "AZURE_TENANT_ID": emulator.tenant_id,
        "AZURE_AUTHORITY_HOST": emulator.authority_host,
        "KEYROT_CA_CERT": emulator.ca_path,
    }
    run = subprocess.run(
        [str(keyrot_bin()), "fetch", "--vault", emulator.vault_url("pyvault"),
         "--name", "dotenv-*", "--env-file", str(out)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    expected = {name.upper().replace("-", "_"): value for name, value in HOSTILE.items()}
    # Exact, with interpolation off: python-dotenv expands ${VAR} even inside single quotes.
    assert dotenv_values(out, interpolate=False) == expected
    # A POSIX shell reads the single-quoted lines literally, `$` and `#` included.
    shell = subprocess.run(
        ["bash", "-c", 'set -a; eval "$(grep -E "^DOTENV_(PLAIN|DOLLAR)=" "$1")"; '
                       'printf "%s\\0" "$DOTENV_PLAIN" "$DOTENV_DOLLAR"', "bash", str(out)],
        env={"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"},
        capture_output=True, text=True, check=True,
    )
    assert shell.stdout.split("\0")[:2] == [HOSTILE["dotenv-plain"], HOSTILE["dotenv-dollar"]]
    for value in HOSTILE.values():
        assert value not in run.stdout and value not in run.stderr
