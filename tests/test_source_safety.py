"""No code path that can run what a file says: no pickle, eval/exec, allow_pickle=True or
safe_mode=False anywhere in the library, the trainers or the benchmarks (checked with `ast`)."""

from __future__ import annotations

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("voice_ft", "examples", "bench") for p in (REPO / folder).rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "shelve", "marshal"}


def unsafe_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in UNSAFE_MODULES:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in {"eval", "exec"}:
                found.append(f"{node.func.id}() at line {node.lineno}")
            for keyword in node.keywords:
                value = keyword.value
                if (keyword.arg, getattr(value, "value", None)) in {("allow_pickle", True), ("safe_mode", False)}:
                    found.append(f"{keyword.arg}={value.value} at line {node.lineno}")
    return found


def test_the_scan_finds_what_it_looks_for():
    source = "import pickle\nfrom dill import x\neval('1')\nnp.load(f, allow_pickle=True)\nkeras.saving.load_model(p, safe_mode=False)\n"
    assert len(unsafe_uses(ast.parse(source))) == 5


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_unsafe_deserialisation(path):
    assert not unsafe_uses(ast.parse(path.read_text(encoding="utf-8"))), path
