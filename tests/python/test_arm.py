"""Microsoft's Azure Resource Manager clients for Python, unmodified, against the emulated ARM
(`management.localhost`): azure-mgmt-storage, -servicebus, -eventhub, -cosmosdb (the
regenerateKey long-running operation polled by the SDK), -logic and -web; then the keys they
hand out, judged by Microsoft's own data-plane clients (azure-storage-blob's Shared Key,
azure-cosmos's master-key signature).

The only configuration is what a user of a sovereign cloud would set: `base_url` (the ARM
endpoint), the credential (azure-identity against the emulated Entra), and the CA bundle.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from conftest import Emulator, _start_emulator, _stop_emulator, make_credential

CLIENT_ID = "0a5c2d1e-3333-4b6e-9c1a-000000000003"
CLIENT_SECRET = "arm-secret-value-~3"
SUB = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"
RG = "py-rg"

SEED = f"""
tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"

[[client]]
client_id = "{CLIENT_ID}"
secrets = [{{ value = "{CLIENT_SECRET}" }}]

[[vault]]
name = "pyarm"
[[vault.secret]]
name = "db-key"
value = "first"

[arm]
subscription_id = "{SUB}"

[[arm.storage_account]]
resource_group = "{RG}"
name = "pyorders"
key1_created = "-40d"
key_expiration_period_days = 90

[[arm.servicebus_namespace]]
resource_group = "{RG}"
name = "py-bus"
queues = [{{ name = "q1", rules = [{{ name = "sender", rights = ["Send"] }}] }}]

[[arm.eventhubs_namespace]]
resource_group = "{RG}"
name = "py-hub"
eventhubs = [{{ name = "eh1", rules = [{{ name = "send", rights = ["Send"] }}] }}]

[[arm.cosmos_account]]
resource_group = "{RG}"
name = "py-db"
regenerate_seconds = 1

[[arm.site]]
resource_group = "{RG}"
name = "py-api"
app_settings = {{ DB_KEY = "@Microsoft.KeyVault(SecretUri=https://pyarm.vault.localhost/secrets/db-key/)" }}

[[arm.logic_app]]
resource_group = "{RG}"
name = "py-flow"
definition = '{{"$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#", "contentVersion": "1.0.0.0", "parameters": {{}}, "triggers": {{}}, "actions": {{}}, "outputs": {{}}}}'
parameters = '{{"apiKey": {{"value": "old"}}}}'
"""


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    state_dir = tmp_path_factory.mktemp("arm-emulator")
    seed = state_dir / "seed.toml"
    seed.write_text(SEED)
    emu = _start_emulator(seed, state_dir)
    try:
        yield emu
    finally:
        _stop_emulator(emu)


def arm_url(emu: Emulator) -> str:
    return f"https://management.localhost:{emu.port}"


@pytest.fixture(scope="module")
def credential(arm: Emulator):
    cred = make_credential(arm, CLIENT_ID, CLIENT_SECRET)
    yield cred
    cred.close()


def mgmt(cls, arm: Emulator, credential):
    return cls(credential, SUB, base_url=arm_url(arm), connection_verify=arm.ca_path)


def test_storage_keys_list_regenerate_and_blob_shared_key(arm: Emulator, credential) -> None:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
    from azure.mgmt.storage import StorageManagementClient
    from azure.storage.blob import BlobServiceClient

    client = mgmt(StorageManagementClient, arm, credential)
    account = client.storage_accounts.get_properties(RG, "pyorders")
    assert account.name == "pyorders"
    assert account.key_policy.key_expiration_period_in_days == 90
    assert account.key_creation_time.key1 < account.key_creation_time.key2
    keys = {k.key_name: k for k in client.storage_accounts.list_keys(RG, "pyorders").keys_property}
    assert set(keys) == {"key1", "key2"}
    assert keys["key1"].permissions.upper() == "FULL"

    def blob_works(key: str) -> bool:
        svc = BlobServiceClient(
            f"https://pyorders.blob.localhost:{arm.port}",
            credential={"account_name": "pyorders", "account_key": key},
            connection_verify=arm.ca_path,
            retry_total=0,
        )
        try:
            list(svc.list_containers(results_per_page=1))
            return True
        except (ClientAuthenticationError, HttpResponseError) as e:
            assert getattr(e, "status_code", None) == 403, e
            return False

    assert blob_works(keys["key1"].value)
    assert blob_works(keys["key2"].value)

    result = client.storage_accounts.regenerate_key(RG, "pyorders", {"keyName": "key1"})
    new = {k.key_name: k.value for k in result.keys_property}
    assert new["key1"] != keys["key1"].value
    assert new["key2"] == keys["key2"].value
    assert not blob_works(keys["key1"].value)
    assert blob_works(new["key1"])
    after = client.storage_accounts.get_properties(RG, "pyorders")
    assert after.key_creation_time.key1 > account.key_creation_time.key1

    with pytest.raises(HttpResponseError) as bad:
        client.storage_accounts.regenerate_key(RG, "pyorders", {"keyName": "key3"})
    assert bad.value.status_code == 400
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError) as missing:
        client.storage_accounts.list_keys(RG, "ghost")
    assert missing.value.error.code == "ResourceNotFound"
    client.close()


def test_servicebus_and_eventhub_rules(arm: Emulator, credential) -> None:
    from azure.mgmt.eventhub import EventHubManagementClient
    from azure.mgmt.servicebus import ServiceBusManagementClient

    sb = mgmt(ServiceBusManagementClient, arm, credential)
    root = sb.namespaces.list_keys(RG, "py-bus", "RootManageSharedAccessKey")
    assert root.primary_connection_string.startswith(f"Endpoint=sb://py-bus.servicebus.localhost:{arm.port}/;")
    before = sb.queues.list_keys(RG, "py-bus", "q1", "sender")
    after = sb.queues.regenerate_keys(RG, "py-bus", "q1", "sender", {"keyType": "PrimaryKey"})
    assert after.primary_key != before.primary_key
    assert after.secondary_key == before.secondary_key
    assert after.primary_connection_string.endswith(";EntityPath=q1")
    given = sb.namespaces.regenerate_keys(
        RG, "py-bus", "RootManageSharedAccessKey", {"keyType": "SecondaryKey", "key": "cHl0aG9uLWdpdmVuLWtleS10aGlydHktdHdvLWJ5dGVzIQ=="}
    )
    assert given.secondary_key == "cHl0aG9uLWdpdmVuLWtleS10aGlydHktdHdvLWJ5dGVzIQ=="
    sb.close()

    eh = mgmt(EventHubManagementClient, arm, credential)
    keys = eh.event_hubs.list_keys(RG, "py-hub", "eh1", "send")
    regen = eh.event_hubs.regenerate_keys(RG, "py-hub", "eh1", "send", {"keyType": "SecondaryKey"})
    assert regen.secondary_key != keys.secondary_key
    ns = eh.namespaces.list_keys(RG, "py-hub", "RootManageSharedAccessKey")
    assert ns.key_name == "RootManageSharedAccessKey"
    eh.close()


def test_cosmos_regenerate_key_polls_the_long_running_operation(arm: Emulator, credential) -> None:
    from azure.mgmt.cosmosdb import CosmosDBManagementClient

    client = mgmt(CosmosDBManagementClient, arm, credential)
    account = client.database_accounts.get(RG, "py-db")
    assert account.document_endpoint == f"https://py-db.documents.localhost:{arm.port}/"
    before = client.database_accounts.list_keys(RG, "py-db")
    poller = client.database_accounts.begin_regenerate_key(RG, "py-db", {"keyKind": "primary"}, polling_interval=0.2)
    assert not poller.done()
    assert poller.result(timeout=30) is None
    after = client.database_accounts.list_keys(RG, "py-db")
    assert after.primary_master_key != before.primary_master_key
    assert after.secondary_master_key == before.secondary_master_key
    statuses = [r["route"] for r in arm.requests() if r["route"].startswith("arm.")]
    assert "arm.operation" in statuses
    client.close()

    # Microsoft's Cosmos client reads the account with the new key, and not with the old one.
    from azure.cosmos import CosmosClient
    from azure.cosmos.exceptions import CosmosHttpResponseError

    os.environ["REQUESTS_CA_BUNDLE"] = arm.ca_path
    try:
        cosmos = CosmosClient(account.document_endpoint, credential=after.primary_master_key, connection_verify=arm.ca_path)
        assert cosmos.client_connection is not None
        with pytest.raises(CosmosHttpResponseError) as refused:
            CosmosClient(account.document_endpoint, credential=before.primary_master_key, connection_verify=arm.ca_path, retry_total=0)
        assert refused.value.status_code == 401
    finally:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)


def test_logic_app_get_and_put(arm: Emulator, credential) -> None:
    from azure.mgmt.logic import LogicManagementClient

    client = mgmt(LogicManagementClient, arm, credential)
    wf = client.workflows.get(RG, "py-flow")
    assert wf.state == "Enabled"
    assert wf.parameters["apiKey"].value == "old"
    wf.parameters["apiKey"].value = "new"
    updated = client.workflows.create_or_update(RG, "py-flow", wf)
    assert updated.parameters["apiKey"].value == "new"
    assert client.workflows.get(RG, "py-flow").parameters["apiKey"].value == "new"
    client.close()


def test_web_key_vault_references_and_refresh(arm: Emulator, credential) -> None:
    from azure.keyvault.secrets import SecretClient
    from azure.mgmt.web import WebSiteManagementClient

    from conftest import client_kwargs

    client = mgmt(WebSiteManagementClient, arm, credential)
    refs = list(client.web_apps.get_app_settings_key_vault_references(RG, "py-api"))
    assert len(refs) == 1
    ref = refs[0].properties
    assert ref.status == "Resolved"
    assert (ref.vault_name, ref.secret_name) == ("pyarm", "db-key")
    old_version = ref.secret_version

    secrets = SecretClient(arm.vault_url("pyarm"), credential_for_vault(arm), **client_kwargs(arm))
    new = secrets.set_secret("db-key", "second")
    held = client.web_apps.get_app_setting_key_vault_reference(RG, "py-api", "DB_KEY").properties
    assert held.secret_version == old_version

    # The refresh API is not in the SDK: its own pipeline sends it (as the portal does).
    from azure.core.rest import HttpRequest

    url = f"{arm_url(arm)}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Web/sites/py-api/config/configreferences/appsettings/refresh?api-version=2022-03-01"
    resp = client.send_request(HttpRequest("POST", url))
    assert resp.status_code == 200
    held = client.web_apps.get_app_setting_key_vault_reference(RG, "py-api", "DB_KEY").properties
    assert held.secret_version == new.properties.version
    state = arm.admin("GET", "/arm")
    assert len(state["sites"][0]["refreshes"]) == 1
    client.close()
    secrets.close()


def credential_for_vault(arm: Emulator):
    return make_credential(arm, CLIENT_ID, CLIENT_SECRET)


def test_errors_reach_the_sdk_in_arm_shape(arm: Emulator, credential) -> None:
    from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError
    from azure.mgmt.storage import StorageManagementClient

    other = StorageManagementClient(credential, "99999999-9999-4999-8999-999999999999", base_url=arm_url(arm), connection_verify=arm.ca_path)
    with pytest.raises(ResourceNotFoundError) as e:
        other.storage_accounts.get_properties(RG, "pyorders")
    assert e.value.error.code == "SubscriptionNotFound"
    other.close()

    class NoToken:
        def get_token(self, *scopes, **kwargs):
            from azure.core.credentials import AccessToken

            return AccessToken("not-a-token", 2**31)

    bad = StorageManagementClient(NoToken(), SUB, base_url=arm_url(arm), connection_verify=arm.ca_path)
    with pytest.raises(ClientAuthenticationError) as e:
        bad.storage_accounts.get_properties(RG, "pyorders")
    assert e.value.status_code == 401
    bad.close()
