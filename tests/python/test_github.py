"""PyGithub, unmodified, against the emulated GitHub (`api.github.localhost`).

`Repository.create_secret` seals the value with PyNaCl for the repository's public key; the
emulator must open it and hold exactly that value. `Workflow.create_dispatch` must start a run
(with and without `return_run_details`), and a run started after a new value sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode

import pytest
from github import Auth, Github, GithubException

from conftest import Emulator, _start_emulator, _stop_emulator

SEED = Path(__file__).resolve().parent / "github_seed.toml"
TOKEN = "ghp_pygithub_test_token"
PLANTED = "pygithub-planted-value-3e8d"


@pytest.fixture(scope="module")
def github_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = _start_emulator(SEED, tmp_path_factory.mktemp("github-emulator"))
    try:
        yield emu
    finally:
        _stop_emulator(emu)


@pytest.fixture()
def gh(github_emulator: Emulator) -> Iterator[Github]:
    client = Github(
        base_url=f"https://api.github.localhost:{github_emulator.port}",
        auth=Auth.Token(TOKEN),
        verify=github_emulator.ca_path,
        retry=None,
    )
    yield client
    client.close()


def stored(emu: Emulator, repository: str, name: str) -> str:
    return emu.admin("GET", "/github/secret?" + urlencode({"repository": repository, "name": name}))["value"]


def test_create_secret_is_decrypted_by_the_emulator(github_emulator: Emulator, gh: Github) -> None:
    repo = gh.get_repo("contoso/billing")
    assert repo.id == 4242
    repo.create_secret("BILLING_CLIENT_SECRET", PLANTED)
    assert stored(github_emulator, "contoso/billing", "BILLING_CLIENT_SECRET") == PLANTED
    repo.create_secret("new_secret", "second-value")
    assert stored(github_emulator, "contoso/billing", "NEW_SECRET") == "second-value"
    names = sorted(s.name for s in repo.get_secrets())
    assert names == ["BILLING_CLIENT_SECRET", "NEW_SECRET"]
    # GitHub never answers a value, and neither does the emulated one.
    for request in github_emulator.requests():
        assert PLANTED not in request["path_and_query"]


def test_create_dispatch_starts_runs_that_see_the_current_value(github_emulator: Emulator, gh: Github) -> None:
    repo = gh.get_repo("contoso/billing")
    repo.create_secret("DEPLOY_KEY", "before")
    workflow = repo.get_workflow("deploy.yml")
    assert workflow.id == 161335
    assert workflow.create_dispatch("main", {"reason": "first"}, throw=True) is True
    repo.create_secret("DEPLOY_KEY", "after")
    run = workflow.create_dispatch("main", {"reason": "second"}, throw=True, return_run_details=True)
    assert run.id > 0
    runs = github_emulator.admin("GET", "/github/runs?repository=contoso/billing")
    assert [r["inputs"]["reason"] for r in runs[-2:]] == ["first", "second"]
    assert runs[-2]["secrets"]["DEPLOY_KEY"] == "before"
    assert runs[-1]["secrets"]["DEPLOY_KEY"] == "after"
    assert runs[-1]["id"] == run.id
    assert runs[-1]["actor"] == "octocat"

    with pytest.raises(GithubException) as refused:
        workflow.create_dispatch("main", {"reason": "x", "extra": "y"}, throw=True)
    assert refused.value.status == 422
    assert refused.value.data["message"] == 'Unexpected inputs provided: ["extra"]'
    with pytest.raises(GithubException) as refused:
        workflow.create_dispatch("no-such-branch", {"reason": "x"}, throw=True)
    assert refused.value.data["message"] == "No ref found for: no-such-branch"


def test_an_older_enterprise_server_refuses_run_details(github_emulator: Emulator, gh: Github) -> None:
    workflow = gh.get_repo("contoso/legacy").get_workflow("deploy.yml")
    with pytest.raises(GithubException) as refused:
        workflow.create_dispatch("main", throw=True, return_run_details=True)
    assert refused.value.status == 400
    assert workflow.create_dispatch("main", throw=True) is True
    assert len(github_emulator.admin("GET", "/github/runs?repository=contoso/legacy")) == 1
