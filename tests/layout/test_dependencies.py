"""Every workspace member declares what it imports: a module its sources import (at the top, in a function, or
under TYPE_CHECKING alike) must come from the standard library, the member itself, or a distribution listed in
the member's own `[project].dependencies` — not one that happens to be installed because another member or the
dev group pulls it in. Otherwise the member breaks when installed alone, as the image installs the services."""

from __future__ import annotations

import ast
import gc
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def members() -> list[Path]:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    found = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        found += sorted(p for p in REPO.glob(pattern) if (p / "pyproject.toml").is_file())
    return found


def packages_of(member: Path) -> set[str]:
    """The top-level import names a member ships (the folders under src/)."""
    return {p.name for p in (member / "src").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}


def _parse(path: Path) -> ast.Module:
    """ast.parse with the garbage collector held off: in CPython 3.11, Python code run by a collection in the middle
    of building the tree (an earlier test's asyncio task logging "exception was never retrieved" when collected)
    makes ast.parse raise "SystemError: AST constructor recursion depth mismatch" (seen once in a whole-suite run)."""
    gc.disable()
    try:
        return ast.parse(path.read_text(), str(path))
    finally:
        gc.enable()


def imported(member: Path) -> dict[str, str]:
    """top-level module → the first file:line importing it, over the member's sources (tests excluded)."""
    found: dict[str, str] = {}
    for path in sorted((member / "src").rglob("*.py")):
        if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
            continue
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], f"{path.relative_to(member.parent)}:{node.lineno}")
    return found


def test_every_member_declares_the_distributions_it_imports() -> None:
    all_members = members()
    first_party = {
        pkg: _norm(tomllib.loads((m / "pyproject.toml").read_text())["project"]["name"])
        for m in all_members
        for pkg in packages_of(m)
    }
    third_party = packages_distributions()
    problems = []
    for member in all_members:
        project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
        declared = {_norm(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in project.get("dependencies", [])}
        own = packages_of(member)
        for module, where in sorted(imported(member).items()):
            if module in sys.stdlib_module_names or module in own or module == "__future__":
                continue
            if module in first_party:
                sources = {first_party[module]}
            else:
                sources = {_norm(d) for d in third_party.get(module, [])}
            if not sources:
                problems.append(f"{where}: {module} is installed by no distribution")
            elif not sources & declared:
                problems.append(
                    f"{where}: imports {module} ({', '.join(sorted(sources))}), not in {project['name']}'s dependencies"
                )
    assert problems == [], "\n".join(problems)


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    src = tmp_path / "src" / "pkg"
    src.mkdir(parents=True)
    (src / "m.py").write_text("import json\nimport yaml\n\ndef f():\n    from httpx import Client\n")
    assert set(imported(tmp_path)) == {"json", "yaml", "httpx"}
    assert packages_of(tmp_path) == {"pkg"}


def test_make_test_and_lint_need_no_node() -> None:
    """buf comes from the buf-bin wheel: nothing `make test` or CI runs calls npm, npx or node."""
    files = [REPO / "Makefile", REPO / ".ci" / "run", *sorted((REPO / "scripts").glob("*"))]
    callers = [
        f"{path.relative_to(REPO)}:{n}"
        for path in files
        if path.is_file()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"(^|[\s;&|(`@])(npm|npx|node|yarn|pnpm)(\s|$)", line.split("#")[0])
    ]
    assert callers == []
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    assert any(d.startswith("buf-bin") for d in dev)
