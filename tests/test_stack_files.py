"""Stack config never fails silently or with a traceback: the project and stack files and ``--set`` are read the way
the Pulumi CLI reads them (values by their declared type, the project's name from Pulumi.yaml), and every bad input
exits 2 naming the file, line or key, and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import planning.harness
from components.app_functions import function_names
from components.config import ConfigError, project_values
from ops.__main__ import EXIT_INVALID, main
from planning.harness import ROOT, StackFileError, parse_setting, raw_config, read_project, run_program, stack_values
from tests.support.program import ProgramRunner

PROJECT = read_project()
STRING_KEYS = [key for key, spec in PROJECT.declared.items() if spec.get("type") == "string"]


def _project(tmp_path: Path, stack_text: str, *, name: str = PROJECT.name, stack: str = "try") -> Path:
    """A project folder with the repository's Pulumi.yaml (renamed to ``name``) and one stack file."""
    text = (ROOT / "Pulumi.yaml").read_text().replace(f"name: {PROJECT.name}\n", f"name: {name}\n", 1)
    (tmp_path / "Pulumi.yaml").write_text(text)
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(stack_text)
    return tmp_path


def _plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["plan", "--out", "/dev/null/never-written", *args])
    return code, capsys.readouterr().err


# ---- values by their declared type ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["16.10", "1.10", "010", "1e3", "0x1F", "2024-01-01", "16.4"])
def test_every_string_key_keeps_the_text_as_written_in_a_stack_file(tmp_path: Path, text: str) -> None:
    lines = "".join(f"  {PROJECT.name}:{key}: {text}\n" for key in STRING_KEYS)
    project = read_project(_project(tmp_path, f"config:\n{lines}"))
    config, _ = raw_config("try", project=project)
    assert {key: config[f"{PROJECT.name}:{key}"] for key in STRING_KEYS} == dict.fromkeys(STRING_KEYS, text)


@pytest.mark.parametrize("key", STRING_KEYS)
def test_every_string_key_keeps_the_text_as_given_to_set(key: str) -> None:
    assert parse_setting(f"{key}=16.10", PROJECT) == (key, "16.10")
    assert parse_setting(f"{PROJECT.name}:{key}=1.10", PROJECT) == (key, "1.10")


def test_set_aurora_engine_version_reaches_the_program_as_written(run_stack: ProgramRunner) -> None:
    key, value = parse_setting("auroraEngineVersion=16.10", PROJECT)
    run = run_stack("prod", **{key: value})
    assert run.config is not None and run.config.aurora.engine_version == "16.10"
    assert {r.inputs["engineVersion"] for r in run.of_type("aws:rds/globalCluster:GlobalCluster")} == {"16.10"}


def test_array_keys_take_yaml_and_defaults_keep_their_text() -> None:
    assert parse_setting("regions=[us-east-1, ap-southeast-2]", PROJECT) == ("regions", ["us-east-1", "ap-southeast-2"])
    assert parse_setting("vpcCidrs=[10.1.0.0/16]", PROJECT) == ("vpcCidrs", ["10.1.0.0/16"])
    assert isinstance(PROJECT.defaults["eksVersion"], str)
    assert PROJECT.defaults["eksVersion"] == str(PROJECT.declared["eksVersion"]["default"])


# ---- malformed YAML -------------------------------------------------------------------------------


def test_malformed_yaml_in_a_stack_file_names_the_file_line_and_problem(tmp_path: Path) -> None:
    project = read_project(
        _project(tmp_path, f"config:\n  {PROJECT.name}:regions: [us-east-1\n  {PROJECT.name}:natGateways: single\n")
    )
    with pytest.raises(StackFileError) as caught:
        stack_values("try", project)
    message = str(caught.value)
    assert message.startswith("Pulumi.try.yaml, line 3, column ")
    assert "malformed YAML" in message and "flow sequence started at line 2" in message


def test_a_value_of_the_wrong_shape_names_the_file_line_and_key(tmp_path: Path) -> None:
    project = read_project(
        _project(tmp_path, f"config:\n  {PROJECT.name}:natGateways: single\n  {PROJECT.name}:regions: us-east-1\n")
    )
    with pytest.raises(StackFileError, match=r"Pulumi\.try\.yaml, multi-region:regions, line 3: expects a list"):
        stack_values("try", project)


def test_the_plan_exits_2_on_a_malformed_stack_file_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(planning.harness, "ROOT", _project(tmp_path, "config:\n  bad: [\n"))
    code, err = _plan(capsys, "--stack", "try")
    assert code == EXIT_INVALID
    assert err.startswith("error: Pulumi.try.yaml, line 3, column 1: malformed YAML")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("regions=[us-east-1", "error: --set regions, line 1, column 11: malformed YAML: expected ',' or ']'"),
        ("regions=us-east-1", "error: --set regions, line 1: expects a list, e.g. [a, b]; got 'us-east-1'"),
        ("regions=", "error: --set regions: expects a YAML array"),
        (
            "auroraEngineVersio=16.10",
            "error: --set auroraEngineVersio: not a key of this project; did you mean auroraEngineVersion?",
        ),
        ("regions", "error: --set takes KEY=VALUE, got 'regions'"),
        ("aws:region=us-east-1", "aws:region: outside the project's namespace 'multi-region' (the program's AWS providers are"),
        ("multi-regoin:regions=[us-east-1]", "did you mean multi-region:regions?"),
    ],
)
def test_a_bad_set_exits_2_and_says_what_is_wrong(capsys: pytest.CaptureFixture[str], setting: str, message: str) -> None:
    code, err = _plan(capsys, "--set", setting)
    assert code == EXIT_INVALID
    assert message in err
    assert "Traceback" not in err


# ---- keys outside the project, or unknown ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        (
            "multi-regoin:regions: [us-east-1]",
            ["line 2: multi-regoin:regions: outside the project's namespace", "did you mean multi-region:regions?"],
        ),
        (
            "aws:region: us-east-1",
            ["line 2: aws:region: outside the project's namespace", "credentials and profiles come from the environment"],
        ),
        ("regions: [us-east-1]", ["line 2: regions: a key without a namespace", "did you mean multi-region:regions?"]),
    ],
)
def test_a_key_outside_the_namespace_names_it_and_the_nearest_key(tmp_path: Path, line: str, fragments: list[str]) -> None:
    project = read_project(_project(tmp_path, f"config:\n  {line}\n"))
    with pytest.raises(ConfigError) as caught:
        stack_values("try", project)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("line", "fragment", "nearest"),
    [
        ("auroraEngineVerison: '16.10'", "auroraEngineVerison: got '16.10'", "auroraEngineVersion"),
        ("region: [us-east-1, eu-west-1]", 'region: got \'["us-east-1", "eu-west-1"]\'', "regions"),
    ],
)
def test_an_unknown_key_of_the_project_suggests_the_nearest(tmp_path: Path, line: str, fragment: str, nearest: str) -> None:
    project = read_project(_project(tmp_path, f"config:\n  {PROJECT.name}:{line}\n"))
    run = planning.harness.execute("try", preview=False, project=project)
    assert run.error is not None
    assert fragment in str(run.error)
    assert str(run.error).endswith(f"did you mean {nearest}?")


def test_engine_settings_are_not_project_keys(tmp_path: Path) -> None:
    project = read_project(_project(tmp_path, "config:\n  pulumi:disable-default-providers: [aws]\n"))
    assert stack_values("try", project) == {}


# ---- the project's name ---------------------------------------------------------------------------


def test_a_renamed_project_gets_the_same_plan_under_its_own_name(tmp_path: Path, run_stack: ProgramRunner) -> None:
    stack_text = (ROOT / "Pulumi.prod.yaml").read_text().replace(f"{PROJECT.name}:", "myplatform:")
    renamed = run_program(
        "prod", preview=False, project=read_project(_project(tmp_path, stack_text, name="myplatform", stack="prod"))
    )
    original = run_stack("prod")

    def shapes(run: planning.harness.ProgramRun, name: str) -> dict[tuple[str, str], str]:
        return {(r.type, r.name): json.dumps(r.inputs, sort_keys=True).replace(name, "<project>") for r in run.resources}

    assert shapes(renamed, "myplatform") == shapes(original, PROJECT.name)
    assert renamed.config is not None and renamed.config.name_prefix == "myplatform-prod"
    functions = [
        f
        for f in renamed.of_type("aws:lambda/function:Function")
        if not f.inputs["name"].endswith(("-runbook", "-secret-rotation"))
    ]
    assert len(functions) == len(function_names()) * len(renamed.config.region_names)
    assert functions and all(f.inputs["name"].startswith("myplatform-prod-") for f in functions)
    assert {f.inputs["environment"]["variables"]["POWERTOOLS_METRICS_NAMESPACE"] for f in functions} == {"myplatform"}


def test_a_renamed_project_with_the_old_namespace_is_refused_not_ignored(tmp_path: Path) -> None:
    stack_text = (ROOT / "Pulumi.prod.yaml").read_text()
    project = read_project(_project(tmp_path, stack_text, name="myplatform", stack="prod"))
    with pytest.raises(ConfigError, match=r"multi-region:regions: outside the project's namespace 'myplatform'"):
        stack_values("prod", project)


def test_no_module_names_the_project() -> None:
    """The name lives in Pulumi.yaml; code derives it. Component type tokens (``multi-region:regional:...``) are a
    package's, doctest examples are examples, and the policy pack (policy/) is a project of its own with its own name."""
    offenders = []
    for folder in ("components", "functions", "ops", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, text in enumerate(path.read_text().splitlines(), 1):
                code = text.split("#", 1)[0]
                example = code.strip().startswith((">>>", "..."))
                if f'"{PROJECT.name}' in code and not example and f'"{PROJECT.name}:' not in code:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {text.strip()}")
    main_py = (ROOT / "__main__.py").read_text()
    assert f'"{PROJECT.name}' not in main_py
    assert offenders == []


def test_the_program_reads_only_its_projects_keys_and_refuses_others() -> None:
    """What ``load_from_pulumi`` applies to the engine's whole config: the engine's own keys pass, others are named."""
    config = {"multi-region:regions": "[]", "pulumi:disable-default-providers": '["aws"]'}
    assert project_values(config, "multi-region") == {"regions": "[]"}
    with pytest.raises(ConfigError) as caught:
        project_values({**config, "aws:region": "us-east-1", "myplatform:regions": "[]"}, "multi-region")
    assert [p.split(":")[0] + ":" + p.split(":")[1] for p in caught.value.problems] == ["aws:region", "myplatform:regions"]
