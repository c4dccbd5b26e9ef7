"""The README's inputs/outputs table matches action.yml and task.json (scripts/docs-tables)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def readme_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("<!-- inputs:start -->", 1)[1].split("<!-- inputs:end -->", 1)[0]


def test_readme_table_is_generated_from_the_files():
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "docs-tables"), "--check"],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr


def test_every_input_and_output_is_documented():
    section = readme_section()
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    task = json.loads((REPO / "task.json").read_text(encoding="utf-8-sig"))
    names = [f"`{n}`" for n in action["inputs"]] + [f"`{n}`" for n in action["outputs"]]
    names += [f"`{i['name']}`" for i in task["inputs"]]
    missing = [n for n in names if n not in section]
    assert not missing, missing
    # The Azure output variables the table names are the ones keyrot really sets.
    golden = (REPO / "tests" / "golden" / "ci" / "azure.stdout").read_text(encoding="utf-8")
    for output in ["status", "failed", "warned", "report"]:
        assert output in action["outputs"]
        variable = f"KEYROT_{output.upper()}"
        assert f"`{variable}`" in section
        assert f"##vso[task.setvariable variable={variable};isOutput=true;]" in golden
