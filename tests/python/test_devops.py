"""Microsoft's `azure-devops` Python package, unmodified, against the emulated Azure DevOps:
service discovery (OPTIONS and ResourceAreas), variable groups with the real PUT semantics,
pipeline runs and classic releases.

The only configuration is what a user of the real service would set: the organization URL,
a PAT, the CA bundle (`REQUESTS_CA_BUNDLE`) and a cache directory of its own
(`AZURE_DEVOPS_CACHE_DIR`, read when the package is imported).
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterator

import pytest

os.environ["AZURE_DEVOPS_CACHE_DIR"] = tempfile.mkdtemp(prefix="keyrot-azure-devops-cache-")

from azure.devops.connection import Connection  # noqa: E402
from azure.devops.exceptions import AzureDevOpsServiceError  # noqa: E402
from azure.devops.v7_1.pipelines.models import (  # noqa: E402
    RepositoryResourceParameters,
    RunPipelineParameters,
    RunResourcesParameters,
)
from azure.devops.v7_1.release.models import ReleaseStartMetadata  # noqa: E402
from azure.devops.v7_1.task_agent.models import VariableGroupParameters, VariableValue  # noqa: E402
from msrest.authentication import BasicAuthentication  # noqa: E402

from conftest import Emulator, _start_emulator, _stop_emulator  # noqa: E402

PAT = "py-pat-value-3e1f"
KEPT = "py-kept-secret-77aa"

SEED = f"""
[[devops.identity]]
display_name = "keyrot"
unique_name = "keyrot@contoso.com"

[[devops.pat]]
token = "{PAT}"
identity = "keyrot@contoso.com"

[[devops.organization]]
name = "contoso"

[[devops.organization.project]]
name = "payments"

[[devops.organization.project.variable_group]]
id = 7
name = "billing-prod"
variables = {{ BILLING_CLIENT_SECRET = {{ value = "old", secret = true }}, OTHER_SECRET = {{ value = "{KEPT}", secret = true }}, REGION = {{ value = "westeurope" }} }}

[[devops.organization.project.pipeline]]
id = 12
name = "billing-deploy"
parameters = ["reason"]
variable_groups = ["billing-prod"]

[[devops.organization.project.release_definition]]
id = 3
name = "billing-cd"
variable_groups = ["billing-prod"]
artifacts = [{{ alias = "_billing", default_version = "20260101.1" }}]

[[devops.organization.project.release_definition]]
id = 4
name = "no-defaults"
artifacts = [{{ alias = "_other" }}]
"""


@pytest.fixture(scope="module")
def devops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    state_dir = tmp_path_factory.mktemp("devops-emulator")
    seed = state_dir / "seed.toml"
    seed.write_text(SEED)
    emu = _start_emulator(seed, state_dir)
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = emu.ca_path
    try:
        yield emu
    finally:
        if before is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = before
        _stop_emulator(emu)


def connection(emu: Emulator) -> Connection:
    return Connection(base_url=f"https://devops.localhost:{emu.port}/contoso", creds=BasicAuthentication("", PAT))


def held(emu: Emulator, name: str) -> dict:
    groups = emu.admin("GET", "/devops")["contoso"]["variableGroups"]
    return next(g for g in groups if g["name"] == name)["variables"]


def test_a_variable_group_update_keeps_the_secrets_it_does_not_send(devops: Emulator) -> None:
    client = connection(devops).clients_v7_1.get_task_agent_client()
    found = client.get_variable_groups("payments", group_name="billing*")
    assert [g.name for g in found] == ["billing-prod"]
    group = client.get_variable_group("payments", found[0].id)
    assert group.variables["OTHER_SECRET"].value is None and group.variables["OTHER_SECRET"].is_secret
    assert group.variables["REGION"].value == "westeurope"

    # What the Azure CLI's `variable update` does: change one, send the group back.
    variables = dict(group.variables)
    variables["BILLING_CLIENT_SECRET"] = VariableValue(value="py-new", is_secret=True)
    del variables["REGION"]  # not sent: deleted
    params = VariableGroupParameters(
        name=group.name,
        description=group.description,
        type=group.type,
        variables=variables,
        variable_group_project_references=group.variable_group_project_references,
    )
    updated = client.update_variable_group(params, group.id)
    assert updated.variables["BILLING_CLIENT_SECRET"].value is None
    assert "REGION" not in updated.variables
    values = held(devops, "billing-prod")
    assert values["BILLING_CLIENT_SECRET"]["value"] == "py-new"
    assert values["OTHER_SECRET"]["value"] == KEPT, "a secret sent without its value keeps it"
    assert set(values) == {"BILLING_CLIENT_SECRET", "OTHER_SECRET"}

    params.variable_group_project_references = None
    with pytest.raises(AzureDevOpsServiceError) as refused:
        client.update_variable_group(params, group.id)
    assert "Project information name is not valid for variable group." in str(refused.value)


def test_a_pipeline_run_starts_with_its_branch_and_parameters(devops: Emulator) -> None:
    client = connection(devops).clients_v7_1.get_pipelines_client()
    pipeline = client.get_pipeline("payments", 12)
    assert pipeline.name == "billing-deploy"
    params = RunPipelineParameters(
        template_parameters={"reason": "credential-rotation"},
        resources=RunResourcesParameters(repositories={"self": RepositoryResourceParameters(ref_name="refs/heads/main")}),
    )
    run = client.run_pipeline(params, "payments", 12)
    assert run.state == "inProgress"
    assert run.template_parameters == {"reason": "credential-rotation"}
    assert run.resources.repositories["self"].ref_name == "refs/heads/main"
    assert client.get_run("payments", 12, run.id).id == run.id
    assert run.id in [r.id for r in client.list_runs("payments", 12)]

    with pytest.raises(AzureDevOpsServiceError) as refused:
        client.run_pipeline(RunPipelineParameters(template_parameters={"colour": "red"}), "payments", 12)
    assert "Unexpected parameter 'colour'" in str(refused.value)


def test_a_release_is_created_with_the_default_artifact_versions(devops: Emulator) -> None:
    client = connection(devops).clients_v7_1.get_release_client()
    definition = client.get_release_definition("payments", 3)
    assert definition.name == "billing-cd"
    release = client.create_release(ReleaseStartMetadata(definition_id=3, description="rotation"), "payments")
    assert release.name.startswith("Release-")
    assert release.release_definition.id == 3
    assert release.artifacts[0].alias == "_billing"
    assert "_release?releaseId=" in release._links.additional_properties["web"]["href"]
    assert client.get_release("payments", release.id).id == release.id

    with pytest.raises(AzureDevOpsServiceError) as refused:
        client.create_release(ReleaseStartMetadata(definition_id=4), "payments")
    assert "VS402881" in str(refused.value) and "_other" in str(refused.value)
