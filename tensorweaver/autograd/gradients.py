"""``tw.autograd.grad``: gradients of outputs with respect to chosen inputs, returned
rather than accumulated into ``.grad`` (torch's ``torch.autograd.grad``)."""
from __future__ import annotations

from tensorweaver import backend


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused=None, materialize_grads: bool = False):
    """Return ``d(outputs)/d(inputs)``, one Tensor per input (vector-Jacobian products).

    Args:
        outputs: a Tensor or a sequence of Tensors to differentiate.
        inputs: a Tensor or a sequence of Tensors (leaves or not) that require grad.
        grad_outputs: the vectors of the products, one per output (default: ones for a
            scalar output; required otherwise).
        retain_graph: keep the graph for another backward (default: ``create_graph``).
        create_graph: record the backward, so the result can be differentiated again
            (Hessian-vector products, gradient penalties).
        allow_unused: return None for an input the outputs do not depend on, instead of
            raising. ``materialize_grads=True`` returns zeros there instead of None.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs; "
                           "pass one per output (None for a scalar output)")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(t).__name__}, not a Tensor")
        if not t.requires_grad:
            raise RuntimeError(f"grad: One of the differentiated Tensors (inputs[{i}], shape {t.shape}) "
                               "does not require grad; create it with requires_grad=True")
    roots, seeds = [], []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise RuntimeError(f"grad: element {i} of outputs does not require grad and does not have a "
                               "grad_fn; was it computed from the inputs, outside tw.no_grad()?")
        roots.append(out)
        seeds.append(_seed(out, g, create_graph, i))
    if retain_graph is None:
        retain_graph = create_graph
    results = _engine.run_general(roots, seeds, retain_graph, create_graph, inputs=inputs,
                                  accumulate=False)
    for i, (t, r) in enumerate(zip(inputs, results)):
        if r is None:
            if materialize_grads:
                results[i] = _make_tensor(backend.xp.zeros(t.shape, dtype=t.dtype), False, None)
            elif not allow_unused:
                raise RuntimeError(
                    f"grad: One of the differentiated Tensors (inputs[{i}], shape {t.shape}) appears to not "
                    "have been used in the graph. Set allow_unused=True if this is the desired behavior.")
    return tuple(results)


def _seed(out, g, create_graph, i):
    if g is None:
        if out.numel() != 1:
            raise RuntimeError(f"grad: grad can be implicitly created only for scalar outputs; outputs[{i}] "
                               f"has shape {out.shape}. Pass grad_outputs.")
        arr = backend.xp.ones(out.shape, dtype=out.dtype)
        return _make_tensor(arr, False, None) if create_graph else arr
    if not isinstance(g, Tensor):
        g = Tensor(g, dtype=out.dtype)
    if g.shape != out.shape:
        raise RuntimeError(f"grad: Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and "
                           f"output[{i}] has a shape of {out.shape}.")
    if g.dtype != out.dtype:
        g = g.to(out.dtype)
    return g if create_graph else g.data


from tensorweaver.autograd import engine as _engine  # noqa: E402
from tensorweaver.tensor import Tensor, _make_tensor  # noqa: E402
