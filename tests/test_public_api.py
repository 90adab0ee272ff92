"""The public API: every exported name resolves, and `import voice_ft` stays light."""

import subprocess
import sys

import voice_ft


def test_every_public_name_resolves():
    for name in voice_ft.__all__:
        assert getattr(voice_ft, name) is not None, name


def test_import_is_lazy():
    code = "import sys, voice_ft, voice_ft.runtime; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_out_of_scope_names_are_public():
    for name in ("generate_negatives", "read_negatives", "Negatives"):
        assert name in voice_ft.__all__ and getattr(voice_ft, name).__module__ == "voice_ft.data.negatives"


def test_no_lazy_name_is_shadowed_by_a_submodule():
    """A package attribute named like one of its submodules becomes that module once the submodule is
    imported directly (`from voice_ft.training.fit import ...` made `voice_ft.fit` a module in one test
    process): no lazily exported name may share its package's submodule names."""
    import importlib
    import pkgutil

    for package_name in ("voice_ft", "voice_ft.training", "voice_ft.response", "voice_ft.runtime"):
        package = importlib.import_module(package_name)
        submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
        lazy_names = set(getattr(package, "_EXPORTS", None) or package._LAZY)  # functions and classes
        assert lazy_names and not submodules & lazy_names, (package_name, submodules & lazy_names)


def test_fit_stays_the_function_after_its_module_is_imported():
    code = ("import voice_ft.training.fitting, voice_ft.training.tuning, voice_ft; "
            "print(callable(voice_ft.fit), callable(voice_ft.training.fit))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]
