"""`keyrot fetch --env-file` read back by a real dotenv parser (python-dotenv) and by shells.

Values are written with Microsoft's SDK, fetched by keyrot, and must come back byte for byte:
quotes, `$`, `#`, backticks, backslashes, spaces and line breaks included, from python-dotenv
(interpolation off) and from `set -a; . file` in bash and dash, which must run nothing. A value
no quoting can carry for all three (a carriage return) is refused by name, and no file is
written. (tests/fetch.rs runs the writer itself through a property test.)
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest
from dotenv import dotenv_values

from conftest import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, keyrot_bin

HOSTILE = {
    "dotenv-plain": "plain-Value-123",
    "dotenv-dollar": "pa$$word ${HOME} $HOME #not-a-comment `id` $(id)",
    "dotenv-quotes": "it's a \"quoted\" value\\with\\backslashes",
    "dotenv-multiline": "-----BEGIN KEY-----\nline two $x\nlast \"line\" \\\n",
}


def keyrot_env(emulator) -> dict:
    return {
        "PATH": os.environ.get("PATH", ""),
        "AZURE_CLIENT_ID": ADMIN_CLIENT_ID,
        "AZURE_CLIENT_SECRET": ADMIN_CLIENT_SECRET,
        "AZURE_TENANT_ID": emulator.tenant_id,
        "AZURE_AUTHORITY_HOST": emulator.authority_host,
        "KEYROT_CA_CERT": emulator.ca_path,
    }


def fetch(emulator, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(keyrot_bin()), "fetch", "--vault", emulator.vault_url("pyvault"), *args],
        env=keyrot_env(emulator), capture_output=True, text=True, timeout=60,
    )


def test_env_file_round_trips_through_python_dotenv_and_shells(emulator, secret_client, tmp_path):
    for name, value in HOSTILE.items():
        secret_client.set_secret(name, value)
    out = tmp_path / "app.env"
    run = fetch(emulator, "--name", "dotenv-*", "--env-file", str(out))
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    expected = {name.upper().replace("-", "_"): value for name, value in HOSTILE.items()}
    # Exact, with interpolation off: python-dotenv expands ${VAR} even inside single quotes.
    assert dotenv_values(out, interpolate=False) == expected
    # POSIX shells read every value literally and run nothing.
    for shell in ("bash", "dash"):
        if shutil.which(shell) is None:
            pytest.fail(f"{shell} is not installed (apt-get install {shell}; .ci/run installs it)")
        names = sorted(expected)
        script = 'set -a; . "$1"; printf "%s\\0"' + "".join(f' "${n}"' for n in names)
        shell_run = subprocess.run(
            [shell, "-c", script, shell, str(out)],
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
            capture_output=True, text=True, check=True, cwd=tmp_path,
        )
        assert shell_run.stderr == "", shell_run.stderr
        assert shell_run.stdout.split("\0")[:-1] == [expected[n] for n in names], shell
    for value in HOSTILE.values():
        assert value not in run.stdout and value not in run.stderr


def test_a_value_the_env_format_cannot_carry_is_refused_by_name(emulator, secret_client, tmp_path):
    value = "line one\r\nline two"
    secret_client.set_secret("dotenv-crlf", value)
    out = tmp_path / "crlf.env"
    run = fetch(emulator, "--name", "dotenv-crlf", "--env-file", str(out))
    assert run.returncode == 2, run.stderr
    assert "cannot write secret dotenv-crlf" in run.stderr
    assert "carriage return" in run.stderr
    assert not out.exists()
    assert "line one" not in run.stdout + run.stderr
    # The JSON format carries it unchanged.
    as_json = fetch(emulator, "--name", "dotenv-crlf", "--format", "json", "--stdout")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["secrets"][0]["value"] == value
