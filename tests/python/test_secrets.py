"""Secret operations through azure-keyvault-secrets, unmodified, against the emulator."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from conftest import unique

UTC = timezone.utc


def _near_now(dt: datetime, slack: timedelta = timedelta(minutes=10)) -> bool:
    now = datetime.now(UTC)
    return now - slack <= dt <= now + slack


def test_set_then_get_round_trips_value_and_attributes(emulator, secret_client):
    name = unique("setget")
    exp = datetime(2032, 1, 2, 3, 4, 5, tzinfo=UTC)
    nbf = datetime(2024, 6, 7, 8, 9, 10, tzinfo=UTC)
    created = secret_client.set_secret(
        name,
        "hunter2 with spaces & ünïcode",
        content_type="text/plain; charset=utf-8",
        tags={"team": "sre", "rotation": "90d"},
        expires_on=exp,
        not_before=nbf,
    )
    assert created.name == name
    assert created.value == "hunter2 with spaces & ünïcode"
    assert created.properties.version
    vault = emulator.vault_url("pyvault").rstrip("/")
    assert created.id == f"{vault}/secrets/{name}/{created.properties.version}"
    assert created.properties.vault_url == vault

    got = secret_client.get_secret(name)
    assert got.value == "hunter2 with spaces & ünïcode"
    assert got.id == created.id
    p = got.properties
    assert p.name == name
    assert p.version == created.properties.version
    assert p.content_type == "text/plain; charset=utf-8"
    assert p.tags == {"team": "sre", "rotation": "90d"}
    assert p.enabled is True
    assert isinstance(p.expires_on, datetime) and p.expires_on == exp
    assert isinstance(p.not_before, datetime) and p.not_before == nbf
    assert isinstance(p.created_on, datetime) and _near_now(p.created_on)
    assert isinstance(p.updated_on, datetime) and p.updated_on >= p.created_on
    # Soft-delete retention below 90 days (the seed's default is 7) is "Customized".
    assert p.recovery_level == "CustomizedRecoverable+Purgeable"
    assert p.recoverable_days == 7
    assert p.managed is None or p.managed is False

    # The explicit version returns the same thing.
    again = secret_client.get_secret(name, p.version)
    assert again.value == got.value and again.properties.version == p.version


def test_seeded_secret_has_seeded_attributes(secret_client):
    got = secret_client.get_secret("seeded-secret")
    assert got.value == "seeded-value"
    p = got.properties
    assert p.content_type == "text/plain"
    assert p.tags == {"owner": "pytest", "env": "ci"}
    assert p.expires_on == datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert p.not_before == datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert p.enabled is True


def test_get_latest_after_second_set_returns_newer_version(secret_client):
    name = unique("latest")
    v1 = secret_client.set_secret(name, "first")
    v2 = secret_client.set_secret(name, "second", tags={"gen": "2"})
    assert v1.properties.version != v2.properties.version

    latest = secret_client.get_secret(name)
    assert latest.value == "second"
    assert latest.properties.version == v2.properties.version
    assert latest.properties.tags == {"gen": "2"}

    old = secret_client.get_secret(name, v1.properties.version)
    assert old.value == "first"
    assert old.properties.version == v1.properties.version
    assert not old.properties.tags


def test_list_properties_of_secret_versions_across_pages(emulator, secret_client):
    name = unique("versions")
    versions = [secret_client.set_secret(name, f"value-{i}").properties.version for i in range(5)]
    assert len(set(versions)) == 5

    bodies = []

    def hook(response):
        if response.http_response.status_code == 200:
            bodies.append(response.http_response.json())

    seen = []
    pages = 0
    for page in secret_client.list_properties_of_secret_versions(
        name, max_page_size=2, raw_response_hook=hook
    ).by_page():
        items = list(page)
        pages += 1
        assert len(items) <= 2
        for item in items:
            assert item.name == name
            assert item.enabled is True
            assert isinstance(item.created_on, datetime)
            seen.append(item.version)
    assert sorted(seen) == sorted(versions)
    assert pages >= 3
    vault = emulator.vault_url("pyvault").rstrip("/")
    assert bodies, "raw_response_hook saw no page"
    for body in bodies:
        for item in body["value"]:
            assert "value" not in item, f"list item carries a value: {item}"
            assert item["id"].startswith(f"{vault}/secrets/{name}/")
        if body.get("nextLink"):
            assert body["nextLink"].startswith(f"{vault}/secrets/{name}/versions")


def test_update_properties_then_disabled_get_is_forbidden(secret_client):
    name = unique("disable")
    created = secret_client.set_secret(name, "soon-disabled", tags={"a": "1"})

    updated = secret_client.update_secret_properties(name, tags={"a": "2", "b": "3"})
    assert updated.tags == {"a": "2", "b": "3"}
    assert updated.version == created.properties.version
    assert secret_client.get_secret(name).properties.tags == {"a": "2", "b": "3"}

    disabled = secret_client.update_secret_properties(name, enabled=False)
    assert disabled.enabled is False
    assert disabled.tags == {"a": "2", "b": "3"}

    with pytest.raises(HttpResponseError) as info:
        secret_client.get_secret(name)
    err = info.value
    assert err.status_code == 403
    assert err.error is not None
    assert err.error.code == "Forbidden"
    assert err.error.innererror.get("code") == "SecretDisabled"
    assert "disabled" in (err.error.message or "").lower()

    # Properties stay readable through the list API.
    props = [p for p in secret_client.list_properties_of_secret_versions(name)]
    assert [p.enabled for p in props] == [False]


def test_get_missing_secret_is_resource_not_found(secret_client):
    name = unique("missing")
    with pytest.raises(ResourceNotFoundError) as info:
        secret_client.get_secret(name)
    assert info.value.status_code == 404
    assert info.value.error is not None
    assert info.value.error.code == "SecretNotFound"
    assert name in (info.value.error.message or "")


def test_delete_then_recover(emulator, secret_client):
    name = unique("recover")
    secret_client.set_secret(name, "come back", content_type="x/y")
    vault = emulator.vault_url("pyvault").rstrip("/")

    deleted = secret_client.begin_delete_secret(name).result()
    assert deleted.name == name
    assert deleted.recovery_id == f"{vault}/deletedsecrets/{name}"
    assert isinstance(deleted.deleted_date, datetime) and _near_now(deleted.deleted_date)
    assert isinstance(deleted.scheduled_purge_date, datetime)
    assert deleted.scheduled_purge_date > deleted.deleted_date

    with pytest.raises(ResourceNotFoundError):
        secret_client.get_secret(name)

    fetched = secret_client.get_deleted_secret(name)
    assert fetched.name == name
    assert fetched.recovery_id == deleted.recovery_id
    assert fetched.properties.content_type == "x/y"
    assert name in {d.name for d in secret_client.list_deleted_secrets()}

    recovered = secret_client.begin_recover_deleted_secret(name).result()
    assert recovered.name == name

    got = secret_client.get_secret(name)
    assert got.value == "come back"
    assert got.properties.content_type == "x/y"
    with pytest.raises(ResourceNotFoundError):
        secret_client.get_deleted_secret(name)


def test_delete_then_purge(secret_client):
    name = unique("purge")
    secret_client.set_secret(name, "gone for good")
    secret_client.begin_delete_secret(name).wait()
    assert secret_client.get_deleted_secret(name).name == name

    secret_client.purge_deleted_secret(name)

    with pytest.raises(ResourceNotFoundError):
        secret_client.get_deleted_secret(name)
    with pytest.raises(ResourceNotFoundError):
        secret_client.get_secret(name)
    assert name not in {d.name for d in secret_client.list_deleted_secrets()}
    assert name not in {p.name for p in secret_client.list_properties_of_secrets()}

    # The name is free again.
    reborn = secret_client.set_secret(name, "second life")
    assert secret_client.get_secret(name).value == "second life"
    assert reborn.properties.version
