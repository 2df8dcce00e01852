"""The tree holds to its architecture (docs/architecture.md): each package of shared/ imports only what
its __init__ says it may, no module imports itself back through another, no module reaches into
another's private names, and none grows past 600 lines."""

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO

MAX_LINES = 600
# What each part may import of ours, as its __init__ says ("May import: ..."); a module may always
# import its own package. stages may import anything in shared/.
ALLOWED = {
    "shared.core": set(),
    "shared.models": {"shared.core", "shared.environment_manager"},
    "shared.environment_manager": {"shared.core", "shared.models"},
    "shared.asr": {"shared.core", "shared.models"},
    "shared.subtitles": {"shared.core"},
    "shared.speakers": {"shared.core"},
    "shared.translation": {"shared.core", "shared.models", "shared.subtitles"},
    "shared.jobs": {"shared.core", "shared.models", "shared.subtitles", "shared.translation",
                    "shared.environment_manager"},
    "shared.setup": {"shared.core", "shared.models", "shared.subtitles", "shared.translation", "shared.jobs",
                     "shared.environment_manager"},
    "shared.review": {"shared.core", "shared.jobs", "shared.subtitles"},
    "stages": {"shared", "stages"},
}


def modules() -> dict[str, Path]:
    found = {}
    for root in ("shared", "stages"):
        for path in sorted((REPO / root).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


def part(module: str) -> str:
    """The part of the tree a module belongs to: its package under shared/, or stages."""
    pieces = module.split(".")
    return "stages" if pieces[0] == "stages" else ".".join(pieces[:2])


def imports(module: str) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of ours in the module, at any
    depth (an import inside a function is an import too)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] in ("shared", "stages")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] in ("shared", "stages"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in MODULES:  # `from shared.models import catalog`: the module catalog
                    out.append((sub, [], node.lineno))
                else:
                    out.append((node.module, [alias.name], node.lineno))
    return out


def test_each_package_says_what_it_holds_and_may_import():
    for package in [m for m in MODULES if MODULES[m].name == "__init__.py" and m.startswith("shared.")]:
        doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8"))) or ""
        assert "May import:" in doc, f"{package}/__init__.py: say what it holds and may import"
        said = {m.rstrip(".,") for m in re.findall(r"shared\.[a-z_]+", doc.split("May import:", 1)[1])}
        assert said == ALLOWED[package], (package, said)
    assert (REPO / "shared/environment_manager.py").is_file()  # the design names this path


def test_no_part_imports_what_its_package_does_not_allow():
    wrong = []
    for module in MODULES:
        own = part(module)
        for target, _, line in imports(module):
            other = part(target) if target.startswith("shared.") and target != "shared" else target
            if other != own and not any(other == a or other.startswith(a + ".") for a in ALLOWED[own]):
                wrong.append(f"{MODULES[module].relative_to(REPO)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    graph = {m: {t for t, _, _ in imports(m) if t in MODULES and t != m} for m in MODULES}
    graph = {m: {t for t in targets if MODULES[t].name != "__init__.py"} for m, targets in graph.items()}
    done, path, circles = set(), [], []

    def visit(module):
        if module in path:
            circles.append(path[path.index(module):] + [module])
            return
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not circles, [" -> ".join(c) for c in circles]


def test_no_private_name_is_used_from_another_module():
    wrong = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module for alias in node.names if f"{node.module}.{alias.name}" in MODULES}
        for target, names, line in imports(module):
            wrong += [f"{path.relative_to(REPO)}:{line} imports {target}.{n}" for n in names if n.startswith("_")]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_600_lines(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(REPO)}: {lines} lines; split it by noun"


def test_the_docs_name_every_part_and_module_of_the_tree():
    """README's "Where things are" and docs/architecture.md match the tree."""
    readme = (REPO / "README.md").read_text(encoding="utf-8").split("## Where things are", 1)[1]
    architecture = (REPO / "docs/architecture.md").read_text(encoding="utf-8")
    packages = sorted(p.name for p in (REPO / "shared").iterdir() if (p / "__init__.py").is_file())
    for package in packages:
        assert f"{package}/" in readme and f"`{package}/`" in architecture, package
        for module in sorted((REPO / "shared" / package).glob("*.py")):
            if module.stem != "__init__":
                assert re.search(rf"\b{module.stem}\b", architecture), f"docs/architecture.md: {package}/{module.name}"
    named = set(re.findall(r"^\s+([a-z_]+)/\s", readme, re.M)) & set(re.findall(r"`([a-z_]+)/`", architecture))
    assert set(packages) <= named
