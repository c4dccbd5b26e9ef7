"""Entra ID client-credentials flow, the Key Vault challenge, and access policies."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.keyvault.secrets import SecretClient

from conftest import (
    ADMIN_CLIENT_ID,
    ADMIN_CLIENT_SECRET,
    LISTER_CLIENT_ID,
    LISTER_CLIENT_SECRET,
    client_kwargs,
    make_credential,
)


def _header(headers, name):
    """The request log stores headers as a map or as [name, value] pairs."""
    if isinstance(headers, dict):
        for k, v in headers.items():
            if k.lower() == name.lower():
                return v if not isinstance(v, list) else v[0]
        return None
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def test_challenge_then_token_then_authorized_request(emulator):
    """A fresh client: 401 challenge, token from Entra, then the authorized call."""
    emulator.clear_requests()
    cred = make_credential(emulator, ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    with SecretClient(emulator.vault_url("pyvault"), cred, **client_kwargs(emulator)) as client:
        assert client.get_secret("seeded-secret").value == "seeded-value"
    cred.close()

    log = emulator.requests()
    vault_host = emulator.vault_url("pyvault").split("://", 1)[1].rstrip("/")
    vault_reqs = [r for r in log if r["host"].split(":")[0] == vault_host.split(":")[0]]
    token_reqs = [r for r in log if r["path_and_query"].startswith(f"/{emulator.tenant_id}/oauth2/v2.0/token")]

    assert len(vault_reqs) == 2, vault_reqs
    first, second = vault_reqs
    assert first["status"] == 401
    assert _header(first["headers"], "authorization") is None
    assert first["path_and_query"].startswith("/secrets/seeded-secret")
    assert second["status"] == 200
    assert (_header(second["headers"], "authorization") or "").startswith("Bearer ")

    assert len(token_reqs) == 1, token_reqs
    assert token_reqs[0]["method"] == "POST"
    assert token_reqs[0]["status"] == 200


def test_list_only_client_is_forbidden_to_get(emulator):
    cred = make_credential(emulator, LISTER_CLIENT_ID, LISTER_CLIENT_SECRET)
    with SecretClient(emulator.vault_url("pyvault"), cred, **client_kwargs(emulator)) as client:
        names = {p.name for p in client.list_properties_of_secrets()}
        assert "seeded-secret" in names

        with pytest.raises(HttpResponseError) as info:
            client.get_secret("seeded-secret")
    cred.close()
    err = info.value
    assert err.status_code == 403
    assert err.error is not None
    assert err.error.code == "Forbidden"
    assert err.error.innererror.get("code") == "AccessDenied"
    message = err.error.message or ""
    assert f"appid={LISTER_CLIENT_ID}" in message
    assert "does not have secrets get permission on key vault 'pyvault" in message


def test_wrong_client_secret_is_aadsts7000215(emulator):
    cred = make_credential(emulator, ADMIN_CLIENT_ID, "not-the-secret")
    with SecretClient(emulator.vault_url("pyvault"), cred, **client_kwargs(emulator)) as client:
        with pytest.raises(ClientAuthenticationError) as info:
            client.get_secret("seeded-secret")
    cred.close()
    assert "AADSTS7000215" in str(info.value)
