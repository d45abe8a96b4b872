"""Operator CLI. ``python -m ops plan [--stack prod]`` prints the offline plan of a stack; ``preflight`` checks the AWS
account before the first deploy (ops/preflight.py); ``status`` and ``failover`` read and move the deployed stack's
active region (ops/status.py, ops/failover.py); ``abort`` lifts a fence a failover left behind (ops/abort.py); ``drill``
runs a regional outage, a switchover and a failover on this machine (simulation/drill.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ops.context import OpsContext
    from planning.plan import PlanReport

EXIT_DIAGRAM = 1
EXIT_INVALID = 2
EXIT_BUDGET = 4
EXIT_POLICY = 8
PLAN_EXIT_CODES = f"""exit status of plan (the codes add up when several apply, e.g. 12 = budget and policy):
  0   the plan is printed and written; every budget within its target, no mandatory policy violation
  {EXIT_DIAGRAM}   the diagram could not be rendered (`dot` failed or timed out; with --docs, also when Graphviz is
      missing). Without --docs a missing Graphviz is only a warning: the plan, budget and policy still count.
  {EXIT_INVALID}   invalid config, unknown stack, bad --set or policy config: nothing is printed but the error
  {EXIT_BUDGET}   a resilience budget is over its target: rtoSeconds or rpoSeconds (stderr names the key, the target
      and the budget)
  {EXIT_POLICY}   a mandatory policy violation (stderr lists each)"""


def main(argv: list[str] | None = None, context: OpsContext | None = None) -> int:
    """Run one command; ``context`` (AWS clients, clock) is for tests of ``status`` and ``failover``."""
    from ops import abort, failover, status
    from simulation import drill

    args = build_parser().parse_args(argv)
    operations = {"status": status.run, "failover": failover.run, "abort": abort.run}
    if args.command in operations:
        return operations[args.command](args, context)
    if args.command == "drill":
        return drill.run(args)
    if args.command == "preflight":
        from ops import preflight

        return preflight.run(args)
    if args.command == "config-reference":
        from planning.reference import config_reference

        print(config_reference())
        return 0
    return _plan(args)


def build_parser() -> argparse.ArgumentParser:
    """Every command and its flags (the docs' examples are checked against it)."""
    from ops import abort, failover, preflight, stack, status
    from simulation import drill

    parser = argparse.ArgumentParser(prog="python -m ops", description="Operate the multi-region stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    plan_help = (
        "print what the stack would create, offline (no AWS, no Pulumi CLI), with its resilience budget, policy "
        "verdict and architecture diagram"
    )
    plan = commands.add_parser(
        "plan",
        help=plan_help,
        description=plan_help[0].upper() + plan_help[1:] + ".",
        epilog=PLAN_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    stack.add_stack_argument(plan)
    plan.add_argument(
        "--mode",
        choices=("preview", "update"),
        default="preview",
        help="preview: computed outputs unknown, as in `pulumi preview` (default); update: mock values filled in",
    )
    plan.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key for this plan only, read by its declared type: text for string, integer and boolean "
        "keys (--set auroraEngineVersion=16.10), YAML for arrays (--set 'regions=[us-east-1, us-west-2]')",
    )
    plan.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where to write architecture.dot, .svg, .png and report.md (default: .build/plan/<stack>/)",
    )
    plan.add_argument(
        "--docs",
        action="store_true",
        help="also copy the diagram to docs/architecture.svg and docs/architecture.png (the README's picture)",
    )
    commands.add_parser("config-reference", help="print the README's config reference table from Pulumi.yaml")
    preflight.add_parser(commands)
    status.add_parser(commands)
    failover.add_parser(commands)
    abort.add_parser(commands)
    drill.add_parser(commands)
    return parser


def _plan(args: argparse.Namespace) -> int:
    import pulumi

    from planning.harness import parse_setting, read_project, run_program
    from planning.plan import DOCS_DIR, build_report, default_out_dir

    try:
        project = read_project()
        overrides = dict(parse_setting(item, project) for item in args.set)
        run = run_program(args.stack, preview=args.mode == "preview", overrides=overrides, project=project)
        report = build_report(run, args.out or default_out_dir(args.stack), docs_dir=DOCS_DIR if args.docs else None)
    except (pulumi.RunError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    print(report.text)
    return _plan_status(report, docs=args.docs)


def _plan_status(report: PlanReport, *, docs: bool) -> int:
    """The exit status of a plan (``PLAN_EXIT_CODES``), each reason also told on stderr."""
    code = 0
    if report.render_error and (docs or not report.dot_missing):
        print(f"error: the diagram was not rendered: {report.render_error}", file=sys.stderr)
        code |= EXIT_DIAGRAM
    elif report.render_error:
        print(f"warning: the diagram was not rendered: {report.render_error}", file=sys.stderr)
    for overrun in report.budget.overruns():
        print(f"error: {overrun.message()}", file=sys.stderr)
        code |= EXIT_BUDGET
    for violation in report.policy.mandatory_violations():
        print(
            f"error: policy {violation.rule}: {violation.resource_type} {violation.resource_name}: {violation.message}",
            file=sys.stderr,
        )
        code |= EXIT_POLICY
    return code


if __name__ == "__main__":
    sys.exit(main())
