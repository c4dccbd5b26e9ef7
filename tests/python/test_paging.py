"""Paging of the secrets list (vault `pages` in seed.toml: 64 generated + 2 hand-written)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

UTC = timezone.utc

GENERATED_COUNT = 64


def generated_names():
    # Naming of `[[vault.generate]]` items, as documented by the emulator crate.
    return {f"gen-{i:05}" for i in range(GENERATED_COUNT)}


EXPECTED = generated_names() | {"alpha", "omega"}

# Soft-deleted secrets keep their storage rows, so Key Vault can answer a page with no items
# but a nextLink. Deleting a run of adjacent names makes such empty pages appear.
DELETED = [f"dropped-{i}" for i in range(5)]


@pytest.fixture(scope="module")
def with_deleted_rows(pages_client):
    for name in DELETED:
        pages_client.set_secret(name, "to be deleted")
    for name in DELETED:
        pages_client.begin_delete_secret(name).wait()
    assert {d.name for d in pages_client.list_deleted_secrets()} >= set(DELETED)
    yield DELETED


def _list_by_page(client, page_size):
    bodies = []

    def hook(response):
        if response.http_response.status_code == 200:
            bodies.append(response.http_response.json())

    pages = []
    for page in client.list_properties_of_secrets(max_page_size=page_size, raw_response_hook=hook).by_page():
        pages.append(list(page))
    return pages, bodies


@pytest.mark.parametrize("page_size", [1, 7])
def test_list_properties_of_secrets_crosses_every_page(emulator, pages_client, with_deleted_rows, page_size):
    pages, bodies = _list_by_page(pages_client, page_size)

    names = [item.name for page in pages for item in page]
    assert len(names) == len(set(names)), "an item was listed twice"
    assert set(names) == EXPECTED

    # maxresults is honoured, and every page (empty ones included) was followed.
    assert all(len(page) <= page_size for page in pages)
    assert len(pages) >= math.ceil(len(EXPECTED) / page_size)
    assert len(bodies) == len(pages)
    if page_size == 1:
        # One row per page: each of the soft-deleted rows yields an empty page that the SDK
        # must cross to reach the names after it.
        empty = sum(1 for page in pages if not page)
        assert empty >= len(with_deleted_rows), f"{empty} empty pages"
        assert any(n > "dropped" for n in names)

    vault = emulator.vault_url("pages").rstrip("/")
    for body in bodies:
        assert set(body) <= {"value", "nextLink"}, f"unexpected page fields: {sorted(body)}"
        for item in body["value"]:
            assert "value" not in item, f"list item carries a secret value: {item}"
            assert item["id"].startswith(f"{vault}/secrets/")
            assert "attributes" in item
        if body.get("nextLink"):
            assert body["nextLink"].startswith(f"{vault}/secrets?"), body["nextLink"]
    # Only the last page lacks a nextLink.
    assert [bool(b.get("nextLink")) for b in bodies] == [True] * (len(bodies) - 1) + [False]


def test_listed_attributes_match_seed(pages_client, with_deleted_rows):
    props = {p.name: p for p in pages_client.list_properties_of_secrets()}
    assert set(props) == EXPECTED
    now = datetime.now(UTC)
    slack = timedelta(hours=1)

    alpha = props["alpha"]
    assert alpha.enabled is True
    assert alpha.expires_on is not None
    assert now + timedelta(days=30) - slack <= alpha.expires_on <= now + timedelta(days=30) + slack

    assert props["omega"].expires_on is None

    for name in generated_names():
        p = props[name]
        assert p.enabled is True
        assert p.expires_on is not None
        assert now + timedelta(days=90) - slack <= p.expires_on <= now + timedelta(days=90) + slack
        assert isinstance(p.created_on, datetime)
        assert isinstance(p.updated_on, datetime)
        assert p.version is None  # list items of the latest secrets carry no version


def test_generated_secret_values_are_readable(pages_client):
    name = sorted(generated_names())[0]
    got = pages_client.get_secret(name)
    assert got.name == name
    assert got.value
