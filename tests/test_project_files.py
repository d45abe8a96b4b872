"""Project files agree with each other: Pulumi.yaml, the config code, the stack files, README and CI."""

from __future__ import annotations

import re

import yaml

from components.config import KEYS
from planning.harness import ROOT
from planning.reference import BEGIN, END, config_reference, declared_config


def test_pulumi_yaml_declares_exactly_the_keys_the_code_reads_with_their_types() -> None:
    declared = declared_config()
    assert list(declared) == list(KEYS)
    for key, spec in declared.items():
        assert spec["type"] == KEYS[key], key
        assert spec.get("description"), f"{key} has no description"
        assert "default" in spec, f"{key} has no default"


def test_project_runs_python_in_the_projects_virtualenv() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "multi-region"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}


def test_stack_files_set_only_declared_keys_and_disable_default_providers() -> None:
    for stack in ("prod", "dev"):
        values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert values["pulumi:disable-default-providers"] == ["aws"]
        keys = {k.split(":", 1)[1] for k in values if k.startswith("multi-region:")}
        assert keys <= set(KEYS), keys - set(KEYS)


def test_readme_config_reference_matches_pulumi_yaml() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    assert readme[start:end] == config_reference(), "README is stale: run `python -m ops config-reference` and paste it"


def test_readme_quickstart_has_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quickstart, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["./run plan --stack prod", "./run test"]
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("exec ./run test")


def test_dependencies_are_pinned() -> None:
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-checkov.txt"):
        for raw in (ROOT / name).read_text().splitlines():
            line = raw.split("#")[0].strip()
            if line and not line.startswith("-r"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][\w.]*", line), f"{name}: {line} is not pinned"


def test_workflows_preview_on_pull_requests_and_deploy_behind_approval() -> None:
    preview = yaml.safe_load((ROOT / ".github/workflows/preview.yml").read_text())
    deploy = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())
    assert "pull_request" in preview[True]  # YAML 1.1 reads the key `on` as True
    assert deploy[True]["push"]["branches"] == ["main"]
    assert preview["jobs"]["preview"]["permissions"]["id-token"] == "write"  # granted to the job that uses it alone

    def pulumi_step(workflow: dict, job: str) -> dict:  # type: ignore[type-arg]
        return next(s for s in workflow["jobs"][job]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions"))

    assert pulumi_step(preview, "preview")["with"]["command"] == "preview"
    assert pulumi_step(deploy, "up")["with"]["command"] == "up"
    assert deploy["jobs"]["up"]["environment"] == "production"
    assert deploy["jobs"]["up"]["needs"] == "test"
    for workflow, job in ((preview, "preview"), (deploy, "up")):
        assert pulumi_step(workflow, job)["with"]["policyPacks"] == "policy", f"{job} runs without the policy pack"
