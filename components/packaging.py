"""The Lambda deployment package: ``functions/`` plus the pure-Python libraries it ships, zipped reproducibly.

One package serves every function; each names its handler in it (``handler_entry``). ``build_package`` runs with
the program at every preview and update: sorted entries, a fixed timestamp and mode, stored uncompressed, written to
``.build/lambda-<sha256 prefix>.zip``, so the same source gives the same bytes and hash on every machine. redis-py
(``VENDORED``), pure Python, is copied from here; the layer's ``LAYER_PROVIDED`` is refused. docs/design/application-functions.md

Example:
    >>> build_package().path.name.startswith("lambda-")
    True
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import io
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

# The one Lambda runtime of every function (Python 3.12 or newer). Nothing else in components/ names a runtime.
LAMBDA_RUNTIME = "python3.13"
LAMBDA_ARCHITECTURE = "arm64"

VENDORED = ("redis",)
# What the Powertools public layer provides (components/powertools.py): the package, the Tracer's X-Ray SDK and their
# dependencies (the v3 layer is built with every extra: docs/design/powertools-groundwork.md, section 2). Shipping one
# of them too would shadow the layer's copy, since the package's directory comes first on sys.path.
LAYER_PROVIDED = ("aws_lambda_powertools", "aws_xray_sdk", "wrapt", "jmespath")
SOURCE_DIR = ROOT / "functions"
BUILD_DIR = ROOT / ".build"
ARCHIVE_PREFIX = "lambda-"

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # a regular file, rw-r--r--
UNIX = 3  # the zip "made by" system whose external attributes are Unix modes
EXCLUDED_DIRS = frozenset({"__pycache__", "tests"})
EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo"})
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# What the package keeps of a vendored library's .dist-info folder (the rest is pip's install bookkeeping).
DIST_INFO_FILES = frozenset({"METADATA", "WHEEL"})


class PackagingError(RuntimeError):
    """The package cannot be built as asked (a library missing, compiled, or needing what is not shipped)."""


@dataclass(frozen=True)
class Package:
    """A built package.

    Parameters
    ----------
    path: the zip, at a path named after its content.
    sha256_b64: base64 SHA-256 of the zip's bytes (the function's ``source_code_hash``).
    entries: the names in the zip, in order.
    """

    path: Path
    sha256_b64: str
    entries: tuple[str, ...]


# ---- pure helpers -------------------------------------------------------------------------------


def runtime_python_version(runtime: str = LAMBDA_RUNTIME) -> tuple[int, int]:
    """``(3, 13)`` for ``python3.13``.

    Example:
        >>> runtime_python_version("python3.12")
        (3, 12)
    """
    if not runtime.startswith("python3."):
        raise ValueError(f"not a Python Lambda runtime: {runtime!r}")
    major, minor = runtime.removeprefix("python").split(".")
    return int(major), int(minor)


def handler_entry(handler: str) -> str:
    """The package entry holding ``handler`` (``module.attribute``): the module's file.

    Example:
        >>> handler_entry("functions.api.handler.handle")
        'functions/api/handler.py'
    """
    module, _, attribute = handler.rpartition(".")
    if not module or not attribute:
        raise ValueError(f"handler {handler!r} is not 'module.attribute'")
    return module.replace(".", "/") + ".py"


def requirements_for(requires: Iterable[str], runtime: str = LAMBDA_RUNTIME) -> list[str]:
    """The names of the requirements (``Requires-Dist`` lines) that apply on ``runtime`` on Lambda's Linux, without
    extras: what must be shipped next to the library.

    Example:
        >>> requirements_for(["async-timeout>=4.0.3; python_full_version < '3.11.3'", "hiredis; extra == 'hiredis'"])
        []
        >>> requirements_for(["async-timeout>=4.0.3; python_full_version < '3.11.3'"], "python3.10")
        ['async-timeout']
    """
    major, minor = runtime_python_version(runtime)
    # Evaluated over the running interpreter's environment, with what differs on Lambda put over it.
    environment = {
        "python_version": f"{major}.{minor}",
        "python_full_version": f"{major}.{minor}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "aarch64",
        "extra": "",
    }
    needed = []
    for line in requires:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            needed.append(requirement.name)
    return needed


def top_level_library(arcname: str) -> str:
    """The importable name an entry belongs to: its first folder, without a .dist-info folder's version.

    Example:
        >>> top_level_library("aws_xray_sdk-2.15.0.dist-info/METADATA"), top_level_library("redis/client.py")
        ('aws_xray_sdk', 'redis')
    """
    top = arcname.split("/", 1)[0]
    return top.split("-", 1)[0] if top.endswith(".dist-info") else top


def _excluded(relative: Path) -> bool:
    parts = relative.parts
    return any(part in EXCLUDED_DIRS or part.startswith(".") for part in parts) or relative.suffix in EXCLUDED_SUFFIXES


def tree_entries(directory: Path, prefix: str) -> list[tuple[str, Path]]:
    """Every file under ``directory`` that belongs in a package, as ``(name in the zip, file)``."""
    found = []
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if path.is_file() and not _excluded(relative):
            found.append((f"{prefix}/{relative.as_posix()}", path))
    return found


def zip_bytes(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """A zip of ``entries`` that depends on nothing but their names and contents (see the module notes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = UNIX
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, data)
    return buffer.getvalue()


# ---- the environment's libraries ------------------------------------------------------------------


def vendored_entries(name: str, runtime: str = LAMBDA_RUNTIME) -> list[tuple[str, Path]]:
    """The files of the installed pure-Python package ``name`` and of its metadata, as ``(name in the zip, file)``.

    Raises
    ------
    PackagingError
        ``name`` is not installed, is not a package, has compiled parts, or requires on ``runtime`` a library that
        is not shipped.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise PackagingError(f"{name} is not installed as a package here; install requirements.txt")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    entries = tree_entries(package_dir, name)
    compiled = [arcname for arcname, _ in entries if arcname.endswith(COMPILED_SUFFIXES)]
    if compiled:
        raise PackagingError(f"{name} has compiled parts that would not load on Lambda: {', '.join(compiled)}")

    distribution = importlib.metadata.distribution(name)
    missing = [r for r in requirements_for(distribution.requires or (), runtime) if r not in VENDORED]
    if missing:
        raise PackagingError(f"{name} needs {', '.join(missing)} on {runtime}; ship it too (VENDORED)")
    for file in distribution.files or ():
        top = file.parts[0]
        if top.endswith(".dist-info") and (file.name in DIST_INFO_FILES or "licenses" in file.parts):
            entries.append((file.as_posix(), Path(str(distribution.locate_file(file)))))
    return entries


# ---- the build ------------------------------------------------------------------------------------


def build_package(source_dir: Path = SOURCE_DIR, vendored: Sequence[str] = VENDORED, out_dir: Path = BUILD_DIR) -> Package:
    """Zip ``source_dir`` (as the top-level package of its name) and the ``vendored`` libraries into ``out_dir``.

    The zip is written only when its content-addressed path does not hold it yet (atomically, so a concurrent run
    never reads half a file); older packages in ``out_dir`` are removed.
    """
    if not (source_dir / "__init__.py").is_file():
        raise PackagingError(f"{source_dir} is not a Python package (no __init__.py)")
    layered = sorted(set(vendored) & set(LAYER_PROVIDED))
    if layered:
        raise PackagingError(f"{', '.join(layered)} come from the Powertools layer; remove them from VENDORED")
    files = tree_entries(source_dir, source_dir.name)
    for name in vendored:
        files += vendored_entries(name)
    names = [arcname for arcname, _ in files]
    layered = sorted({n for n in names if top_level_library(n) in LAYER_PROVIDED})
    if layered:
        raise PackagingError(f"the package would ship what the Powertools layer provides: {', '.join(layered)}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PackagingError(f"two sources for {', '.join(duplicates)}")

    data = zip_bytes([(arcname, path.read_bytes()) for arcname, path in files])
    digest = hashlib.sha256(data).digest()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{ARCHIVE_PREFIX}{digest.hex()[:32]}.zip"
    if not path.is_file() or path.read_bytes() != data:
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".tmp-", delete=False) as temporary:
            temporary.write(data)
        os.replace(temporary.name, path)
    for stale in out_dir.glob(f"{ARCHIVE_PREFIX}*.zip"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return Package(path=path, sha256_b64=base64.b64encode(digest).decode(), entries=tuple(sorted(names)))
