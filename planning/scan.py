"""checkov over the synthesized plan: each stack's plan as Terraform plan JSON (``planning.tfplan``), scanned by
checkov's ``terraform_plan`` framework, its failed checks less the committed not-applicable list
(``security/checkov-not-applicable.yaml``: per check id a reason, optionally narrowed to resource addresses).

checkov pins its own boto3 and more, so it has a virtualenv of its own (``.build/checkov-venv`` from
``requirements-checkov.txt``, made on first use) and runs as a subprocess, offline. See docs/design/checkov.md.

Example:
    $ python -m planning.scan --stack prod --stack dev
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from planning.harness import ROOT, ProgramRun, run_program
from planning.tfplan import to_tfplan

REQUIREMENTS = ROOT / "requirements-checkov.txt"
VENV = ROOT / ".build" / "checkov-venv"
PLAN_DIR = ROOT / ".build" / "checkov"
NOT_APPLICABLE = ROOT / "security" / "checkov-not-applicable.yaml"
STACKS = ("prod", "dev")
CHECK_ID = re.compile(r"CKV2?_AWS_\d+")
ENTRY_KEYS = ("reason", "only", "stacks")
# Nothing checkov might ask the network for leaves the machine: no download, a proxy nobody listens on.
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


class CheckovError(RuntimeError):
    """checkov could not be installed or did not produce a report: the message says which and shows its output."""


class NotApplicableError(ValueError):
    """The not-applicable list is malformed: the message names the entry and the field."""


@dataclass(frozen=True)
class Finding:
    """One failed check on one resource of one stack's plan."""

    stack: str
    check_id: str
    check_name: str
    address: str


@dataclass(frozen=True)
class NotApplicable:
    """A check that does not apply here, why, and (if narrowed) the resource addresses and stacks it does not apply to."""

    check_id: str
    reason: str
    only: tuple[str, ...] = ()
    stacks: tuple[str, ...] = ()

    def covers(self, finding: Finding) -> bool:
        if finding.check_id != self.check_id or (self.stacks and finding.stack not in self.stacks):
            return False
        return not self.only or any(fnmatch.fnmatchcase(finding.address, pattern) for pattern in self.only)


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[Finding, ...]
    not_applicable: tuple[NotApplicable, ...]

    @property
    def applicable(self) -> list[Finding]:
        return [f for f in self.findings if not any(entry.covers(f) for entry in self.not_applicable)]

    @property
    def excused(self) -> list[Finding]:
        return [f for f in self.findings if any(entry.covers(f) for entry in self.not_applicable)]


def load_not_applicable(path: Path = NOT_APPLICABLE) -> tuple[NotApplicable, ...]:
    """The committed not-applicable list: ``CHECK_ID: {reason: ..., only: [address glob, ...], stacks: [...]}``."""
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, Mapping):
        raise NotApplicableError(f"{path}: expected a mapping of check ids (e.g. CKV_AWS_272) to entries")
    entries = []
    for check_id, entry in data.items():
        where = f"{path.name}: {check_id}"
        if not isinstance(check_id, str) or not CHECK_ID.fullmatch(check_id):
            raise NotApplicableError(f"{where}: not a checkov AWS check id (CKV_AWS_<n> or CKV2_AWS_<n>)")
        if not isinstance(entry, Mapping) or set(entry) - set(ENTRY_KEYS):
            raise NotApplicableError(f"{where}: expected a mapping with the keys {', '.join(ENTRY_KEYS)}")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise NotApplicableError(f"{where}: 'reason' must say why the check does not apply")
        examples = {"only": "resource address patterns, e.g. aws_s3_bucket.*-logs", "stacks": "stack names, e.g. dev"}
        narrowed = {key: entry.get(key, []) for key in examples}
        for key, items in narrowed.items():
            if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
                raise NotApplicableError(f"{where}: '{key}' must be a list of {examples[key]}")
        entries.append(NotApplicable(check_id, reason.strip(), tuple(narrowed["only"]), tuple(narrowed["stacks"])))
    return tuple(entries)


def ensure_checkov(venv: Path = VENV, requirements: Path = REQUIREMENTS) -> Path:
    """The checkov executable of its own virtualenv, made (or remade when the requirements changed) on first use."""
    stamp = venv / f".installed-{hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]}"
    executable = venv / "bin" / "checkov"
    if stamp.exists() and executable.exists():
        return executable
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(requirements)],
    ]
    print(f"installing checkov into {venv.relative_to(ROOT)} (first use only)", file=sys.stderr)
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CheckovError(f"{' '.join(step[:4])} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    stamp.touch()
    return executable


def write_plans(runs: Iterable[ProgramRun], out_dir: Path = PLAN_DIR) -> dict[str, Path]:
    """Each run's plan (update mode) as ``<out_dir>/<stack>.tfplan.json``; returns ``{stack: path}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for run in runs:
        path = out_dir / f"{run.stack}.tfplan.json"
        path.write_text(json.dumps(to_tfplan(run), indent=1, sort_keys=True))
        paths[run.stack] = path
    return paths


def run_checkov(plans: Mapping[str, Path], executable: Path | None = None) -> list[Finding]:
    """checkov's failed checks over the plan files (``{stack: path}``), in one run of checkov."""
    command = [str(executable or ensure_checkov()), "--framework", "terraform_plan", "--output", "json", "--quiet"]
    command += ["--compact", "--skip-download"]
    for path in plans.values():
        command += ["--file", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, **OFFLINE_ENV}, cwd=ROOT)
    # checkov exits 1 when a check failed; anything else, or no JSON report, is a failure of the scan itself.
    if done.returncode not in (0, 1):
        raise CheckovError(f"checkov exited {done.returncode}:\n{done.stderr[-4000:]}")
    return parse_report(done.stdout, plans)


def parse_report(output: str, plans: Mapping[str, Path]) -> list[Finding]:
    """The failed checks of checkov's JSON report (one report, or a list of them), each with the stack of its file."""
    try:
        report = json.loads(output)
    except ValueError:
        raise CheckovError(f"checkov printed no JSON report:\n{output[-4000:]}") from None
    reports = report if isinstance(report, list) else [report]
    by_file = {path.name: stack for stack, path in plans.items()}
    findings = []
    for one in reports:
        if one.get("summary", {}).get("parsing_errors"):
            raise CheckovError(f"checkov could not parse the plans: {one['results'].get('parsing_errors')}")
        for failed in one.get("results", {}).get("failed_checks", []):
            name = Path(failed["file_path"]).name
            if name not in by_file:
                raise CheckovError(f"checkov reported on {failed['file_path']}, which is none of {sorted(by_file)}")
            findings.append(Finding(by_file[name], failed["check_id"], failed["check_name"], failed["resource"]))
    return sorted(findings, key=lambda f: (f.stack, f.check_id, f.address))


def scan(stacks: Sequence[str] = STACKS, out_dir: Path = PLAN_DIR, not_applicable: Path = NOT_APPLICABLE) -> ScanResult:
    """Write the stacks' plans, run checkov over them and pair its findings with the not-applicable list."""
    entries = load_not_applicable(not_applicable)
    runs = [run_program(stack, preview=False) for stack in stacks]
    return ScanResult(tuple(run_checkov(write_plans(runs, out_dir))), entries)


def render(result: ScanResult) -> str:
    """The failed checks grouped by stack and check id, with counts and resource addresses; excused ones counted."""
    lines = []
    stacks = sorted({f.stack for f in result.findings})
    for stack in stacks:
        applicable = [f for f in result.applicable if f.stack == stack]
        excused = [f for f in result.excused if f.stack == stack]
        lines.append(f"{stack}: {len(applicable)} failed checks that apply, {len(excused)} not applicable")
        grouped: dict[str, list[Finding]] = defaultdict(list)
        for finding in applicable:
            grouped[finding.check_id].append(finding)
        for check_id, found in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0])):
            lines.append(f"  {check_id} x{len(found)}: {found[0].check_name}")
            lines += [f"    {f.address}" for f in found]
        excused_ids = sorted({f.check_id for f in excused})
        if excused_ids:
            counts = ", ".join(f"{i} x{sum(f.check_id == i for f in excused)}" for i in excused_ids)
            lines.append(f"  not applicable: {counts}")
    if not stacks:
        lines.append("no failed checks")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m planning.scan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", action="append", help="a stack to scan (repeat for more; default: prod and dev)")
    parser.add_argument("--out", type=Path, default=PLAN_DIR, help="where the plan JSON files go (default: .build/checkov/)")
    parser.add_argument("--install-only", action="store_true", help="make checkov's virtualenv if needed, scan nothing")
    args = parser.parse_args(argv)
    if args.install_only:
        ensure_checkov()
        return 0
    result = scan(args.stack or STACKS, args.out)
    print(render(result))
    return 1 if result.applicable else 0


if __name__ == "__main__":
    sys.exit(main())
