"""The Lambda package (components/packaging.py): reproducible bytes, content-addressed, self-sufficient on the runtime."""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from components.app_functions import application_functions
from components.packaging import (
    FIXED_DATE_TIME,
    LAMBDA_ARCHITECTURE,
    LAMBDA_RUNTIME,
    LAYER_PROVIDED,
    ROOT,
    PackagingError,
    build_package,
    requirements_for,
    runtime_python_version,
    top_level_library,
    vendored_entries,
)


def _copy_of_functions(tmp_path: Path) -> Path:
    source = tmp_path / "src" / "functions"
    shutil.copytree(ROOT / "functions", source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return source


def test_one_python_runtime_of_at_least_3_12_named_in_one_place() -> None:
    assert runtime_python_version(LAMBDA_RUNTIME) >= (3, 12)
    assert LAMBDA_ARCHITECTURE == "arm64"
    runtimes = []
    for path in sorted((ROOT / "components").glob("*.py")):
        tree = ast.parse(path.read_text())
        runtimes += [
            (path.name, node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"python3\.\d+", node.value)
        ]
        assert "Runtime." not in path.read_text(), f"{path.name} names a runtime through the SDK's enum"
    assert runtimes == [("packaging.py", LAMBDA_RUNTIME)]


def test_the_same_source_gives_the_same_bytes_and_hash(tmp_path: Path) -> None:
    first, second = build_package(out_dir=tmp_path / "a"), build_package(out_dir=tmp_path / "b")
    assert first.sha256_b64 == second.sha256_b64
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.path.name == second.path.name
    assert first.sha256_b64 == base64.b64encode(hashlib.sha256(first.path.read_bytes()).digest()).decode()
    assert first.path.name == f"lambda-{hashlib.sha256(first.path.read_bytes()).hexdigest()[:32]}.zip"


def test_one_changed_byte_gives_another_package(tmp_path: Path) -> None:
    source = _copy_of_functions(tmp_path)
    before = build_package(source_dir=source, out_dir=tmp_path / "out")
    schema = source / "shared" / "schema.py"
    schema.write_bytes(schema.read_bytes() + b"\n")
    after = build_package(source_dir=source, out_dir=tmp_path / "out")
    assert after.sha256_b64 != before.sha256_b64
    assert after.path != before.path
    assert not before.path.exists(), "the stale package is removed"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [after.path.name]


def test_file_times_and_modes_do_not_reach_the_package(tmp_path: Path) -> None:
    source = _copy_of_functions(tmp_path)
    before = build_package(source_dir=source, out_dir=tmp_path / "out")
    for path in source.rglob("*.py"):
        path.chmod(0o600)
        path.touch()
    (source / "__pycache__").mkdir(exist_ok=True)
    (source / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode")
    (source / "shared" / "stray.pyc").write_bytes(b"bytecode")
    (source / "tests").mkdir()
    (source / "tests" / "test_x.py").write_text("import functions\n")  # a test module the package must leave out
    (source / ".DS_Store").write_bytes(b"finder")
    assert build_package(source_dir=source, out_dir=tmp_path / "out").sha256_b64 == before.sha256_b64


def test_entries_are_sorted_stored_with_fixed_time_and_mode() -> None:
    package = build_package()
    with zipfile.ZipFile(package.path) as archive:
        infos = archive.infolist()
        assert archive.testzip() is None
    names = [info.filename for info in infos]
    assert names == sorted(names) == list(package.entries)
    assert {(i.date_time, i.compress_type, i.create_system, i.external_attr >> 16) for i in infos} == {
        (FIXED_DATE_TIME, zipfile.ZIP_STORED, 3, 0o100644)
    }
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/tests/" in n or "/." in n]


def test_the_package_holds_the_functions_redis_and_its_metadata() -> None:
    entries = set(build_package().entries)
    assert {"functions/__init__.py", "functions/shared/__init__.py", "functions/shared/schema.py"} <= entries
    assert {"redis/__init__.py", "redis/cluster.py", "redis/connection.py"} <= entries
    metadata = [e for e in entries if e.startswith("redis-") and ".dist-info/" in e]
    assert {e.rsplit("/", 1)[-1] for e in metadata} == {"METADATA", "WHEEL", "LICENSE"}
    assert not [e for e in entries if not e.startswith(("functions/", "redis/", "redis-"))]


def test_the_built_archive_leaves_powertools_and_its_dependencies_to_the_layer() -> None:
    """Opened as Lambda opens it: redis-py is in the zip, nothing the Powertools layer provides is."""
    assert set(LAYER_PROVIDED) == {"aws_lambda_powertools", "aws_xray_sdk", "wrapt", "jmespath"}
    with zipfile.ZipFile(build_package().path) as archive:
        names = archive.namelist()
    tops = {top_level_library(name) for name in names}
    assert tops == {"functions", "redis"}, tops
    assert not [n for n in names if any(library in n.lower() for library in LAYER_PROVIDED)]
    assert "redis/cluster.py" in names
    assert any(n.startswith("redis-") and n.endswith(".dist-info/METADATA") for n in names)


def test_what_the_layer_provides_is_refused_in_the_package(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="jmespath come from the Powertools layer; remove them from VENDORED"):
        build_package(vendored=("redis", "jmespath"), out_dir=tmp_path / "out")
    shadow = tmp_path / "src" / "wrapt"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    with pytest.raises(PackagingError, match=r"ship what the Powertools layer provides: wrapt/__init__\.py"):
        build_package(source_dir=shadow, vendored=(), out_dir=tmp_path / "out")


def test_every_handler_the_functions_name_is_in_the_package() -> None:
    entries = set(build_package().entries)
    for handler in (spec.handler for spec in application_functions()):
        module, function = handler.rsplit(".", 1)
        assert f"{module.replace('.', '/')}.py" in entries, handler
        assert function == "handle"


def _needed_here_not_on_lambda(name: str) -> list[importlib.metadata.Distribution]:
    """What ``name`` requires on the interpreter running the tests but not on the Lambda runtime the package is for
    (redis-py needs ``async-timeout`` below Python 3.11.3, e.g. on Debian 12's 3.11.2; Lambda runs 3.12 or newer)."""
    requires = importlib.metadata.distribution(name).requires or ()
    here = [r.name for r in map(Requirement, requires) if r.marker is None or r.marker.evaluate({"extra": ""})]
    on_lambda = requirements_for(requires)
    return [importlib.metadata.distribution(n) for n in here if n not in on_lambda]


def _top_level_modules(distribution: importlib.metadata.Distribution) -> set[str]:
    return {f.parts[0].removesuffix(".py") for f in distribution.files or () if not f.parts[0].endswith((".dist-info", ".pth"))}


def test_redis_imports_from_the_package_alone(tmp_path: Path) -> None:
    """No site-packages, no PYTHONPATH: the synchronous cluster client and its version come from the zip. What only
    this interpreter needs (not the Lambda runtime) is copied beside it, after the zip, and nothing else."""
    package = build_package()
    local_only = _needed_here_not_on_lambda("redis")
    tops = set().union(*(_top_level_modules(d) for d in local_only))
    for distribution in local_only:
        site = Path(str(distribution.locate_file("")))
        for top in _top_level_modules(distribution):
            source = site / top if (site / top).is_dir() else site / f"{top}.py"
            copy = shutil.copytree if source.is_dir() else shutil.copy2
            copy(source, tmp_path / source.name)
    allowed = sorted({"redis", "__main__", *tops})
    after_zip = [str(tmp_path)] if local_only else []
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.extend(sys.argv[3:]); "
        "import importlib.metadata, redis, redis.cluster; "
        "assert redis.__file__.startswith(sys.argv[1]), redis.__file__; "
        "outside = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names "
        "and m.split('.')[0] not in sys.argv[2].split(',')); "
        "assert not outside, outside; "
        "print(importlib.metadata.version('redis'))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(package.path), ",".join(allowed), *after_zip],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == importlib.metadata.version("redis")


def test_only_what_the_lambda_runtime_needs_is_left_to_the_local_interpreter() -> None:
    """The exception above is exactly redis-py's ``async-timeout`` below 3.11.3, and none on newer interpreters."""
    names = [d.metadata["Name"].lower() for d in _needed_here_not_on_lambda("redis")]
    assert names == (["async-timeout"] if sys.version_info < (3, 11, 3) else [])


def test_requirements_are_evaluated_for_the_lambda_runtime() -> None:
    requires = [
        "async-timeout>=4.0.3; python_full_version < '3.11.3'",
        "hiredis>=3.2.0; extra == 'hiredis'",
        "pyjwt>=2.13.0; extra == 'jwt'",
    ]
    assert requirements_for(requires) == []
    assert requirements_for(requires, "python3.12") == []
    assert requirements_for(requires, "python3.10") == ["async-timeout"]
    assert requirements_for(["typing-extensions; python_version < '3.11'", "six"]) == ["six"]
    with pytest.raises(ValueError, match="not a Python Lambda runtime"):
        runtime_python_version("nodejs22.x")


def test_a_library_with_compiled_parts_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "speedy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_fast.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PackagingError, match="compiled parts"):
        vendored_entries("speedy")


def test_a_missing_library_or_source_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="not installed"):
        vendored_entries("no_such_library_here")
    with pytest.raises(PackagingError, match="not a Python package"):
        build_package(source_dir=tmp_path, out_dir=tmp_path / "out")
