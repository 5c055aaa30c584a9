"""Every Function of the engine has an ONNX mapping: a new op without one fails here."""
import importlib
import pkgutil

import pytest

import tensorweaver
from tensorweaver.autograd.function import Function
from tensorweaver.onnx import registry

pytestmark = pytest.mark.onnx

# Packages whose Functions make up the engine's op set (nn ops live in tensorweaver/ops too;
# tensorweaver.nn is imported so that any Function it defines is found as well).
PACKAGES = ["tensorweaver.ops", "tensorweaver.nn"]


def _all_functions():
    for package in PACKAGES:
        try:
            pkg = importlib.import_module(package)
        except ModuleNotFoundError:
            continue
        for info in pkgutil.walk_packages(pkg.__path__, package + "."):
            importlib.import_module(info.name)
    found, todo = set(), list(Function.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("tensorweaver.") and cls not in found:
            found.add(cls)
            todo.extend(cls.__subclasses__())
    return found


def test_every_engine_function_has_a_symbolic():
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in _all_functions() - registry.registered())
    assert not missing, f"ops with no ONNX mapping: {missing}"


def test_registering_twice_is_refused():
    from tensorweaver.ops.elementwise import Exp
    with pytest.raises(ValueError, match="already has a symbolic"):
        registry.register(Exp)(lambda g, n: None)


def test_the_engine_package_is_found():
    assert len(_all_functions()) > 30, tensorweaver.__file__
