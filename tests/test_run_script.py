"""The bootstrap of ``./run``: what a new machine meets before anything of the project runs.

The script runs for real, in a copy of the project's entry files, with the commands it calls (python3, apt-get, sudo,
id, and the Debian tools it checks for) replaced by recording stand-ins on a PATH that holds nothing else, so each
case (no venv, a half-made one, no python3-venv, root, sudo, no sudo) is set up exactly and runs in milliseconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from planning.harness import ROOT

# The coreutils the script itself uses; everything else it calls is a stand-in below.
UTILITIES = ("bash", "cat", "sha256sum", "cut", "rm", "touch", "sed", "env", "dirname", "mkdir", "ln", "chmod")

FAKE_PYTHON = f"""#!/bin/bash
# Stands for a system python3: real for `-c`, recording for `-m venv`, which fails until python3-venv "is installed".
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  echo "python3 -m venv $3" >> "$STUB_LOG"
  if [ "${{STUB_NO_ENSUREPIP:-}}" = 1 ] && [ ! -f "$STUB_STATE/venv-package-installed" ]; then
    mkdir -p "$3/bin"   # what a failed attempt leaves: a folder with a python and no pip
    echo "The virtual environment was not created successfully because ensurepip is not available." >&2
    exit 1
  fi
  mkdir -p "$3/bin"
  cat > "$3/bin/python" <<'VENVPY'
#!/bin/bash
[ "$1" = "-c" ] && exit 0
echo "venv-python $*" >> "$STUB_LOG"
VENVPY
  chmod +x "$3/bin/python"
  exit 0
fi
exec {sys.executable} "$@"
"""

FAKE_APT_GET = """#!/bin/bash
echo "apt-get $*" >> "$STUB_LOG"
touch "$STUB_STATE/venv-package-installed"
"""

FAKE_SUDO = """#!/bin/bash
[ "$1" = "-n" ] && shift
if [ "$1" = "true" ]; then exit "${STUB_SUDO_STATUS:-0}"; fi
echo "sudo $*" >> "$STUB_LOG"
exec "$@"
"""

FAKE_ID = """#!/bin/bash
echo "${STUB_UID:-0}"
"""


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the files ``./run`` reads, with the stand-ins on their own PATH."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("run", "requirements.txt", "requirements-dev.txt"):
        shutil.copy2(ROOT / name, copy / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for utility in UTILITIES:
        found = shutil.which(utility)
        assert found, utility
        (bin_dir / utility).symlink_to(found)
    _write(bin_dir / "python3", FAKE_PYTHON)
    _write(bin_dir / "apt-get", FAKE_APT_GET)
    _write(bin_dir / "sudo", FAKE_SUDO)
    _write(bin_dir / "id", FAKE_ID)
    for tool in ("dot", "redis-server", "chromium"):  # present, so `setup` asks apt for nothing else
        _write(bin_dir / tool, "#!/bin/bash\n")
    (tmp_path / "state").mkdir()
    return copy


def _run(project: Path, *, remove: tuple[str, ...] = (), **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = project.parent / "bin"
    for name in remove:
        (bin_dir / name).unlink()
    log = project.parent / "calls.log"
    log.write_text("")
    environment = {
        "PATH": str(bin_dir),
        "HOME": str(project.parent),
        "STUB_LOG": str(log),
        "STUB_STATE": str(project.parent / "state"),
        **env,
    }
    result = subprocess.run(
        ["bash", "run", "setup"], cwd=project, env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    return result, log.read_text().splitlines()


def _stamps(project: Path) -> list[str]:
    return sorted(p.name for p in (project / ".venv").glob(".installed-*"))


def test_a_new_machine_gets_a_venv_with_the_pinned_packages_once(project: Path) -> None:
    result, calls = _run(project)
    assert result.returncode == 0, result.stderr
    assert calls == [
        "python3 -m venv .venv",
        "venv-python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt",
    ]
    assert len(_stamps(project)) == 1
    again, calls = _run(project)
    assert again.returncode == 0, again.stderr
    assert calls == []


@pytest.mark.parametrize("leftover", ["folder", "dangling link", "link into the tree's parent"])
def test_a_half_made_venv_is_rebuilt_not_reused(project: Path, leftover: str) -> None:
    venv = project / ".venv"
    if leftover == "folder":
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").write_text("#!/bin/bash\nexit 0\n")
        (venv / "bin" / "python").chmod(0o755)
        (venv / "left-behind").write_text("")
    elif leftover == "dangling link":
        venv.symlink_to("/tmp/no-such-venv-here")
    else:
        target = project.parent / "elsewhere"
        target.mkdir()
        venv.symlink_to(target)
    result, calls = _run(project)
    assert result.returncode == 0, result.stderr
    assert "removing .venv: no install of this script finished in it" in result.stderr
    assert calls[0] == "python3 -m venv .venv"
    assert venv.is_dir() and not venv.is_symlink()
    assert not (venv / "left-behind").exists()
    assert len(_stamps(project)) == 1


def test_changed_requirements_update_a_made_venv_in_place(project: Path) -> None:
    assert _run(project)[0].returncode == 0
    (project / "requirements-dev.txt").write_text((project / "requirements-dev.txt").read_text() + "six==1.16.0\n")
    (project / ".venv" / "kept").write_text("")
    result, calls = _run(project)
    assert result.returncode == 0, result.stderr
    assert calls == ["venv-python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt"]
    assert (project / ".venv" / "kept").exists()
    assert len(_stamps(project)) == 1


def test_root_without_python3_venv_installs_it_with_apt(project: Path) -> None:
    result, calls = _run(project, STUB_NO_ENSUREPIP="1")
    assert result.returncode == 0, result.stderr
    minor = sys.version_info[1]
    assert calls[:4] == [
        "python3 -m venv .venv",
        "apt-get update -qq",
        f"apt-get install -y -qq --no-install-recommends python3.{minor}-venv",
        "python3 -m venv .venv",
    ]
    assert len(_stamps(project)) == 1


def test_a_user_with_passwordless_sudo_gets_packages_through_sudo(project: Path) -> None:
    result, calls = _run(project, STUB_NO_ENSUREPIP="1", STUB_UID="1001", STUB_SUDO_STATUS="0")
    assert result.returncode == 0, result.stderr
    minor = sys.version_info[1]
    assert "sudo apt-get update -qq" in calls
    assert f"sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3.{minor}-venv" in calls


@pytest.mark.parametrize("sudo", ["asks for a password", "missing"])
def test_a_user_without_sudo_is_told_the_exact_command(project: Path, sudo: str) -> None:
    remove = ("sudo",) if sudo == "missing" else ()
    result, calls = _run(project, remove=remove, STUB_NO_ENSUREPIP="1", STUB_UID="1001", STUB_SUDO_STATUS="1")
    assert result.returncode == 1
    minor = sys.version_info[1]
    assert f"sudo apt-get update && sudo apt-get install -y python3.{minor}-venv" in result.stderr
    assert not any(call.startswith(("apt-get", "sudo")) for call in calls)


def test_a_python_older_than_the_minimum_is_named(project: Path) -> None:
    old = project.parent / "bin" / "python3.10"
    _write(old, "#!/bin/bash\nexit 1\n")
    result, calls = _run(project, PYTHON=str(old))
    assert result.returncode == 1
    assert f"PYTHON={old} is not Python 3.11 or newer" in result.stderr
    assert calls == []


def test_without_any_new_enough_python_the_message_says_what_to_install(project: Path) -> None:
    _write(project.parent / "bin" / "python3", "#!/bin/bash\n[ \"$1\" = --version ] && echo 'Python 3.9.2'\nexit 1\n")
    result, _ = _run(project)
    assert result.returncode == 1
    assert "Python 3.11 or newer is needed" in result.stderr
    assert "Python 3.9.2" in result.stderr


def test_the_readme_states_the_minimum_the_script_checks() -> None:
    script = (ROOT / "run").read_text()
    assert "MIN_PYTHON=(3 11)" in script
    assert "Python 3.11 or newer" in (ROOT / "README.md").read_text()
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()
    assert os.access(ROOT / "run", os.X_OK)
