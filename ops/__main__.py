"""Operator CLI. ``python -m ops plan [--stack prod]`` prints the offline plan of a stack."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description="Operate the multi-region stack.")
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="print what the stack would create, offline (no AWS, no Pulumi CLI)")
    plan.add_argument("--stack", default="prod", help="stack name; reads Pulumi.<stack>.yaml (default: prod)")
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
        help="override a config key for this plan only (VALUE is YAML: --set 'regions=[us-east-1, us-west-2]')",
    )
    commands.add_parser("config-reference", help="print the README's config reference table from Pulumi.yaml")
    args = parser.parse_args(argv)
    if args.command == "config-reference":
        from ops.reference import config_reference

        print(config_reference())
        return 0

    import pulumi

    from ops.harness import run_program
    from ops.plan import render_plan

    try:
        overrides = dict(_parse_setting(item) for item in args.set)
        run = run_program(args.stack, preview=args.mode == "preview", overrides=overrides)
    except (pulumi.RunError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(render_plan(run))
    return 0


def _parse_setting(item: str) -> tuple[str, object]:
    import yaml

    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
    return key.removeprefix("multi-region:"), yaml.safe_load(value)


if __name__ == "__main__":
    sys.exit(main())
