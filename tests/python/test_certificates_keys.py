"""Certificates and keys, listed through azure-keyvault-certificates / azure-keyvault-keys."""

from __future__ import annotations

from datetime import datetime, timezone

UTC = timezone.utc


def test_list_properties_of_certificates_with_expiry(emulator, certificate_client):
    props = {p.name: p for p in certificate_client.list_properties_of_certificates()}
    assert set(props) == {"web-tls", "old-cert"}
    assert props["web-tls"].expires_on == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert props["old-cert"].expires_on == datetime(2020, 1, 2, 0, 0, 0, tzinfo=UTC)
    vault = emulator.vault_url("pyvault").rstrip("/")
    for name, p in props.items():
        assert p.enabled is True
        assert p.id == f"{vault}/certificates/{name}"
        assert isinstance(p.created_on, datetime)
        assert p.x509_thumbprint, f"{name} has no x5t"


def test_list_certificates_by_small_pages(certificate_client):
    names = []
    for page in certificate_client.list_properties_of_certificates(max_page_size=1).by_page():
        items = list(page)
        assert len(items) <= 1
        names.extend(p.name for p in items)
    assert sorted(names) == ["old-cert", "web-tls"]


def test_list_properties_of_keys_with_expiry(emulator, key_client):
    props = {p.name: p for p in key_client.list_properties_of_keys()}
    assert set(props) == {"signing-key", "wrapping-key"}
    assert props["signing-key"].expires_on == datetime(2030, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert props["wrapping-key"].expires_on == datetime(2029, 6, 30, 12, 0, 0, tzinfo=UTC)
    vault = emulator.vault_url("pyvault").rstrip("/")
    for name, p in props.items():
        assert p.enabled is True
        assert p.id == f"{vault}/keys/{name}"
        assert isinstance(p.created_on, datetime)


def test_list_keys_by_small_pages(key_client):
    names = []
    for page in key_client.list_properties_of_keys(max_page_size=1).by_page():
        items = list(page)
        assert len(items) <= 1
        names.extend(p.name for p in items)
    assert sorted(names) == ["signing-key", "wrapping-key"]


def test_get_certificate_returns_a_real_x509_matching_its_attributes(certificate_client):
    import hashlib

    from cryptography import x509

    cert = certificate_client.get_certificate("web-tls")
    assert cert.name == "web-tls"
    assert cert.properties.expires_on == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert cert.cer, "no DER bytes in `cer`"
    parsed = x509.load_der_x509_certificate(bytes(cert.cer))
    assert parsed.not_valid_after_utc == cert.properties.expires_on
    assert cert.properties.x509_thumbprint == hashlib.sha1(bytes(cert.cer)).digest()
    assert cert.policy is not None and cert.policy.subject == "CN=web-tls"


def test_get_key_returns_a_json_web_key(key_client):
    key = key_client.get_key("signing-key")
    assert key.name == "signing-key"
    assert key.key_type == "RSA"
    assert key.key.n and key.key.e
    assert key.properties.expires_on == datetime(2030, 1, 1, 0, 0, 0, tzinfo=UTC)


def test_list_requests_carry_each_sdk_default_api_version(emulator, certificate_client, key_client):
    emulator.clear_requests()
    list(certificate_client.list_properties_of_certificates())
    list(key_client.list_properties_of_keys())
    seen = {r["route"]: r["path_and_query"] for r in emulator.requests() if r["status"] == 200}
    # azure-keyvault-certificates 4.12.0 sends 2026-04-01; azure-keyvault-keys 4.11.3 sends 2025-07-01.
    assert f"api-version={certificate_client.api_version}" in seen["certificates.list"]
    assert f"api-version={key_client.api_version}" in seen["keys.list"]
