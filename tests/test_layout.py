"""The layout a newcomer relies on: folders by concern, short module docstrings and functions, no test module
importing another (shared helpers live in tests/support/)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULE_DOCSTRING_LINES = 10
# Longest function, in lines: product code, and tests (a test reads top to bottom as one scenario).
FUNCTION_LINES = {"product": 60, "tests": 100}
PACKAGES = {
    "ops": "the operator CLI",
    "planning": "the plan tooling and the mocks harness",
    "simulation": "the local drill and its doubles",
    "tests/support": "helpers shared by test modules",
}


def python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.split()]


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def long_docstrings(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        doc = ast.get_docstring(parsed(path), clean=False)
        if doc and len(doc.strip().splitlines()) > MODULE_DOCSTRING_LINES:
            found.append(f"{path.relative_to(ROOT)}: {len(doc.strip().splitlines())} lines")
    return found


def long_functions(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        relative = path.relative_to(ROOT)
        limit = FUNCTION_LINES["tests" if relative.parts[0] == "tests" else "product"]
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    found.append(f"{relative}:{node.lineno} {node.name}: {lines} lines > {limit}")
    return found


def test_every_module_docstring_is_ten_lines_or_fewer() -> None:
    assert long_docstrings(python_files()) == []


def test_no_function_runs_past_its_limit() -> None:
    assert long_functions(python_files()) == []


def test_the_checks_find_what_they_look_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.test_layout.ROOT", tmp_path)
    (tmp_path / "ops").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    module = tmp_path / "ops" / "long.py"
    module.write_text('"""' + "\n".join(["line"] * 11) + '"""\n\n\ndef f():\n' + body + "\n", encoding="utf-8")
    assert long_docstrings([module]) == ["ops/long.py: 11 lines"]
    assert long_functions([module]) == ["ops/long.py:14 f: 62 lines > 60"]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_each_concern_is_its_own_package(package: str) -> None:
    assert (ROOT / package / "__init__.py").is_file(), PACKAGES[package]


def test_no_test_module_imports_another_test_module() -> None:
    found = []
    for path in python_files():
        relative = path.relative_to(ROOT)
        if relative.parts[0] != "tests" or relative.parts[:2] == ("tests", "support"):
            continue
        for node in ast.walk(parsed(path)):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            modules += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            found += [f"{relative}: {m}" for m in modules if m.startswith("tests") and not m.startswith("tests.support")]
    assert found == []


def test_every_design_note_named_exists_and_the_index_lists_every_note() -> None:
    named = set()
    for path in python_files() + sorted(ROOT.glob("*.md")) + sorted((ROOT / "docs").rglob("*.md")):
        named |= set(re.findall(r"docs/design/([\w.-]+\.md)", path.read_text(encoding="utf-8")))
    notes = {path.name for path in (ROOT / "docs" / "design").glob("*.md")} - {"README.md"}
    assert named - notes == set()
    index = (ROOT / "docs" / "design" / "README.md").read_text(encoding="utf-8")
    assert {note for note in notes if f"]({note})" not in index} == set()
