"""ONNX export by tracing, mapped to standard ONNX ops and checked by ONNX Runtime.

    import tensorweaver as tw          # tw.onnx is loaded on first use (as torch.onnx)
    tw.onnx.export(model, x, "model.onnx", input_names=["input"],
                             output_names=["output"],
                             dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    print(tw.onnx.verify(model, x))      # max abs/rel error vs ONNX Runtime

    @tw.onnx.register_symbolic(MyOp)     # an op of your own (a Function subclass): its ONNX nodes
    def my_op(g, n):
        return g.op("Relu", n.input(0))

Layout: ``tracer`` records one forward pass, ``graph`` builds nodes and values,
``registry`` + ``symbolic/`` map each engine op to ONNX ops (one module per op
family), ``export`` assembles and checks the model, ``verify`` runs ONNX Runtime.
"""
try:
    import onnx  # noqa: F401
except ImportError as exc:   # pragma: no cover - depends on the environment
    raise ImportError("tensorweaver.onnx needs the `onnx` package: pip install onnx onnxruntime "
                      "(onnxruntime is for verify()), or in a tensorweaver checkout "
                      "pip install -e '.[onnx]'") from exc

from tensorweaver.onnx.errors import ExportError, UnsupportedOperatorError
from tensorweaver.onnx.export import export, to_model
from tensorweaver.onnx.registry import register_symbolic, unregister_symbolic
from tensorweaver.onnx.verify import VerifyReport, verify

__all__ = ["export", "to_model", "verify", "VerifyReport", "ExportError", "UnsupportedOperatorError",
           "register_symbolic", "unregister_symbolic"]
