"""Reverse-mode automatic differentiation: Function, the backward engine, grad mode,
anomaly detection, gradcheck and the profiler's op hooks."""
from tensorweaver.autograd.anomaly import detect_anomaly, is_anomaly_enabled
from tensorweaver.autograd.function import Function
from tensorweaver.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tensorweaver.autograd import profiler  # noqa: F401  (tw.autograd.profiler.op_hooks)
from tensorweaver.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck


def __getattr__(name):
    # grad and functional import Tensor ops, which import this package first: load on use.
    if name == "grad":
        from tensorweaver.autograd.gradients import grad
        return grad
    if name == "functional":
        import importlib
        return importlib.import_module("tensorweaver.autograd.functional")
    raise AttributeError(f"module 'tensorweaver.autograd' has no attribute {name!r}")


__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "detect_anomaly", "is_anomaly_enabled", "gradcheck", "gradgradcheck", "GradcheckError", "grad",
           "functional", "profiler"]
