"""Reverse-mode automatic differentiation: Function, the backward engine, grad mode,
anomaly detection and gradcheck."""
from tensorweaver.autograd.anomaly import detect_anomaly, is_anomaly_enabled
from tensorweaver.autograd.function import Function
from tensorweaver.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tensorweaver.autograd.gradcheck import GradcheckError, gradcheck

__all__ = ["Function", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "detect_anomaly", "is_anomaly_enabled", "gradcheck", "GradcheckError"]
