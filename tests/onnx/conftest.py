"""Shared round trip for the ONNX suite: export to a file, check, run in ONNX Runtime at
two batch sizes (the batch axis is dynamic), compare with the engine's forward."""
import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX export needs the 'onnx' extra (in the tensorweaver checkout: pip install -e '.[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the ONNX suite checks exports in ONNX Runtime "
                          "(extra 'onnx', in the tensorweaver checkout: pip install -e '.[onnx]')")

import onnx  # noqa: E402

import tensorweaver as tw  # noqa: E402
import tensorweaver.onnx as twonnx  # noqa: E402
from tensorweaver.onnx.tracer import flatten_outputs  # noqa: E402

BATCHES = (2, 5)


def _eval_forward(model, args):
    if hasattr(model, "eval"):
        model.eval()
    with tw.no_grad():
        return [t.numpy() for t in flatten_outputs(model(*args))]


@pytest.fixture
def roundtrip(tmp_path):
    """``roundtrip(model, make_args, ...)`` -> the exported onnx.ModelProto.

    ``make_args(batch)`` returns the model's arguments for a batch size. Axis
    ``batch_axis`` (0) of every input is the dynamic axis "batch" (and of every
    output, unless ``batch_out=False``). The export is written to a file, reloaded, checked with
    ``full_check``, then run in ONNX Runtime for each batch size in ``batches``.
    """
    def run(model, make_args, *, batches=BATCHES, batch_out=True, batch_axis=0, opset=17, atol=1e-5,
            rtol=1e-5, exact=False):
        args = make_args(batches[0])
        args = args if isinstance(args, tuple) else (args,)
        n_in = sum(isinstance(a, tw.Tensor) for a in args)
        n_out = len(_eval_forward(model, args))
        in_names = ["x"] if n_in == 1 else [f"x{i}" for i in range(n_in)]
        out_names = ["y"] if n_out == 1 else [f"y{i}" for i in range(n_out)]
        axes = {n: {batch_axis: "batch"} for n in in_names}
        if batch_out:
            axes.update({n: {batch_axis: "batch"} for n in out_names})
        path = tmp_path / "model.onnx"
        proto = twonnx.export(model, args, str(path), input_names=in_names,
                              output_names=out_names, dynamic_axes=axes, opset_version=opset)
        loaded = onnx.load(str(path))
        assert loaded == proto
        onnx.checker.check_model(loaded, full_check=True)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for batch in batches:
            run_args = make_args(batch)
            run_args = run_args if isinstance(run_args, tuple) else (run_args,)
            feed = {n: a.numpy() for n, a in zip(in_names, [a for a in run_args if isinstance(a, tw.Tensor)])}
            got = session.run(out_names, feed)
            expected = _eval_forward(model, run_args)
            for name, g, e in zip(out_names, got, expected):
                assert g.dtype == e.dtype, f"{name} at batch {batch}: dtype {g.dtype} vs engine {e.dtype}"
                assert g.shape == e.shape, f"{name} at batch {batch}: shape {g.shape} vs engine {e.shape}"
                if exact:
                    np.testing.assert_array_equal(g, e, err_msg=f"{name} at batch {batch}")
                else:
                    np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"{name} at batch {batch}")
        return proto
    return run
