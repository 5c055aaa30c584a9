"""``verify``: export a model, run it in ONNX Runtime, compare with the engine's forward."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad
from tensorweaver.onnx.export import MIN_OPSET, to_model
from tensorweaver.onnx.tracer import _set_eval, flatten_outputs
from tensorweaver.tensor import Tensor


@dataclass
class OutputCheck:
    """One output of one run: ONNX Runtime's result against the engine's."""
    run: int                # which argument set (0: the export args, then extra_args)
    name: str
    shape: tuple
    max_abs: float          # max |onnx - engine|
    max_rel: float          # max |onnx - engine| / |engine| (over non-zero engine values)
    passed: bool


@dataclass
class VerifyReport:
    """The outcome of ``verify``: ``passed``, and per output ``max_abs``/``max_rel`` errors."""
    checks: list
    rtol: float
    atol: float
    opset: int
    op_types: dict = field(default_factory=dict)    # ONNX op type -> count in the graph
    model: object = None                            # the exported onnx.ModelProto

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def max_abs(self) -> float:
        return max((c.max_abs for c in self.checks), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((c.max_rel for c in self.checks), default=0.0)

    def __bool__(self) -> bool:
        return self.passed

    def _rows(self):
        return [(str(c.run), c.name, "x".join(map(str, c.shape)) or "scalar", f"{c.max_abs:.3g}",
                 f"{c.max_rel:.3g}", "ok" if c.passed else "MISMATCH") for c in self.checks]

    def _title(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        nodes = ", ".join(f"{k} x{v}" for k, v in sorted(self.op_types.items()))
        return (f"ONNX verify {verdict} (opset {self.opset}, ONNX Runtime CPU, rtol={self.rtol:g}, "
                f"atol={self.atol:g}); nodes: {nodes}")

    def __str__(self) -> str:
        head = ("run", "output", "shape", "max abs err", "max rel err", "")
        rows = [head] + self._rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([self._title()] + lines)

    def _repr_markdown_(self) -> str:
        head = "| run | output | shape | max abs err | max rel err | |\n|---|---|---|---|---|---|\n"
        body = "".join("| " + " | ".join(r) + " |\n" for r in self._rows())
        return f"**{self._title()}**\n\n" + head + body

    def __repr__(self) -> str:
        return (f"VerifyReport(passed={self.passed}, max_abs={self.max_abs:.3g}, "
                f"max_rel={self.max_rel:.3g}, outputs={len(self.checks)})")


def verify(model, args, rtol=1e-5, atol=1e-6, *, extra_args=(), input_names=None,
           output_names=None, dynamic_axes=None, opset_version=MIN_OPSET) -> VerifyReport:
    """Export ``model`` (in memory), run the graph in ONNX Runtime (CPUExecutionProvider)
    and compare every output with the engine's forward (both in eval mode).

    ``extra_args`` are further argument tuples to run through the same exported graph,
    e.g. another batch size when ``dynamic_axes`` makes the batch dynamic. An output
    passes when ``|onnx - engine| <= atol + rtol * |engine|`` everywhere (NaNs must
    match) and shapes and dtypes agree.
    """
    ort = _onnxruntime()
    args = args if isinstance(args, tuple) else (args,)
    proto = to_model(model, args, input_names, output_names, dynamic_axes, opset_version)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    in_names = [i.name for i in proto.graph.input]
    out_names = [o.name for o in proto.graph.output]
    checks = []
    for run, run_args in enumerate([args] + [a if isinstance(a, tuple) else (a,) for a in extra_args]):
        feed = {name: backend.to_host(t.data) for name, t in
                zip(in_names, [a for a in run_args if isinstance(a, Tensor)])}
        got = session.run(out_names, feed)
        expected = _engine_forward(model, run_args)
        for name, g, e in zip(out_names, got, expected):
            checks.append(_compare(run, name, g, e, rtol, atol))
    op_types = {}
    for node in proto.graph.node:
        op_types[node.op_type] = op_types.get(node.op_type, 0) + 1
    return VerifyReport(checks, rtol, atol, proto.opset_import[0].version, op_types, proto)


def _engine_forward(model, args) -> list:
    modes = _set_eval(model)
    try:
        with no_grad():
            return [backend.to_host(t.data) for t in flatten_outputs(model(*args))]
    finally:
        for module, training in modes:
            module.training = training


def _compare(run, name, got, expected, rtol, atol) -> OutputCheck:
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return OutputCheck(run, f"{name} ({got.dtype}{list(got.shape)} vs engine "
                           f"{expected.dtype}{list(expected.shape)})", expected.shape,
                           float("inf"), float("inf"), False)
    if expected.dtype.kind not in "fc":
        diff = (got != expected).astype(np.float64)
        return OutputCheck(run, name, expected.shape, float(diff.max(initial=0)),
                           float(diff.max(initial=0)), bool(not diff.any()))
    g64, e64 = got.astype(np.float64), expected.astype(np.float64)
    finite = np.isfinite(g64) & np.isfinite(e64)
    err = np.abs(g64 - e64)[finite]
    ref = np.abs(e64)[finite]
    max_abs = float(err.max(initial=0.0))
    max_rel = float((err[ref > 0] / ref[ref > 0]).max(initial=0.0))
    passed = bool(np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True))
    return OutputCheck(run, name, expected.shape, max_abs, max_rel, passed)


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("tensorweaver.onnx.verify needs ONNX Runtime: pip install onnxruntime "
                          "(or the 'onnx' extra, from the tensorweaver checkout: pip install -e '.[onnx]')") from exc
    return onnxruntime
