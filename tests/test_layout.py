"""The package layout's import rules (docs/DESIGN.md), checked over the source with `ast`.

- Task packages (one folder per capability) may import the core and the runtime; the core
  (`backbones`, `data`, `layers`, `training`, `export`, `evaluation`) never imports a task.
- `runtime/` is what a phone app ships: it imports nothing of voice_ft outside `runtime/`.
- No import cycles between modules, counting imports inside functions too.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "voice_ft"
CORE = {"backbones", "data", "layers", "training", "export", "evaluation"}
RUNTIME = "runtime"


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(module: str) -> set[str]:
    """Every voice_ft module `module` imports, resolving `from package import submodule`."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] == "voice_ft" and n != module)
    return found


def top_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


TASKS = {top_package(m) for m in MODULES if PACKAGE.joinpath(*m.split(".")[1:2]).is_dir()} - CORE - {RUNTIME, None}


def test_the_layout_has_core_runtime_and_task_packages():
    assert {"text_classification", "nlu", "speech_commands", "response"} <= TASKS
    assert all(PACKAGE.joinpath(p, "__init__.py").exists() for p in CORE | TASKS | {RUNTIME})
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules loose at the top of voice_ft/: {loose}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if top_package(m) in CORE))
def test_core_imports_no_task(module):
    bad = sorted(m for m in imported_modules(module) if top_package(m) in TASKS)
    assert not bad, f"{module} (core) imports task modules {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if top_package(m) == RUNTIME))
def test_runtime_imports_only_runtime(module):
    bad = sorted(m for m in imported_modules(module) if top_package(m) != RUNTIME and m != "voice_ft.runtime")
    assert not bad, f"{module} (TF-free runtime) imports {bad}"


def test_no_import_cycles():
    graph = {m: {i for i in imported_modules(m) if i in MODULES and i != "voice_ft"} for m in MODULES if m != "voice_ft"}
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
