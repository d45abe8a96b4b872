"""What a fresh clone gets is what this checkout has: nothing tracked points outside the tree, and nothing tracked is
something the ignore rules say belongs to one machine (a tracked `.venv` link into /tmp once broke every new clone)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path, PurePosixPath

from planning.harness import ROOT

SYMLINK_MODE = "120000"


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30).stdout


def links_leaving_the_tree(repo: Path) -> list[str]:
    """Tracked symlinks whose target is absolute or climbs out of the repository, as ``path -> target``."""
    found = []
    for line in _git("ls-files", "-s", "-z", cwd=repo).split("\0"):
        if not line.startswith(SYMLINK_MODE + " "):
            continue
        meta, path = line.split("\t", 1)
        target = _git("cat-file", "-p", meta.split()[1], cwd=repo)
        resolved = os.path.normpath(PurePosixPath(path).parent / target)
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            found.append(f"{path} -> {target}")
    return found


def tracked_but_ignored(repo: Path) -> list[str]:
    """Tracked files that the ignore rules cover: a clone gets them though the project says they are local."""
    return [p for p in _git("ls-files", "-ci", "--exclude-standard", "-z", cwd=repo).split("\0") if p]


def test_no_tracked_link_leaves_the_repository() -> None:
    assert links_leaving_the_tree(ROOT) == []


def test_no_tracked_file_is_one_the_ignore_rules_cover() -> None:
    assert tracked_but_ignored(ROOT) == []


def test_the_checks_find_what_broke_fresh_clones(tmp_path: Path) -> None:
    """The two checks above, on a repository made to have each fault (so they cannot pass on nothing)."""
    _git("init", "-q", str(tmp_path), cwd=tmp_path)
    (tmp_path / ".gitignore").write_text(".venv\n*.log\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("")
    (tmp_path / "build.log").write_text("")
    links = {
        ".venv": "/tmp/venv",  # absolute
        "docs/up": "../../outside",  # climbs out
        "docs/same": "page.md",  # stays inside: fine
        "top": "docs/../docs/page.md",  # stays inside: fine
    }
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    _git("add", "-f", ".", cwd=tmp_path)
    assert sorted(links_leaving_the_tree(tmp_path)) == [".venv -> /tmp/venv", "docs/up -> ../../outside"]
    assert sorted(tracked_but_ignored(tmp_path)) == [".venv", "build.log"]


def test_the_ignore_rules_cover_a_venv_as_a_folder_and_as_a_link(tmp_path: Path) -> None:
    for name, make in (("as-folder", Path.mkdir), ("as-link", lambda p: p.symlink_to("/tmp/elsewhere"))):
        clone = tmp_path / name
        _git("init", "-q", str(clone), cwd=tmp_path)
        (clone / ".gitignore").write_text((ROOT / ".gitignore").read_text())
        make(clone / ".venv")
        if (clone / ".venv").is_dir() and not (clone / ".venv").is_symlink():
            (clone / ".venv" / "pyvenv.cfg").write_text("")
        assert ".venv" not in _git("status", "--porcelain", "--untracked-files=all", cwd=clone), name
