"""``gradcheck``: compare backward() with float64 central differences (``gradgradcheck``:
the same for second derivatives, through ``create_graph=True``).

For every input that requires grad and every element of it, the numerical
derivative ``(f(x + eps) - f(x - eps)) / 2eps`` of each output element is compared
with the Jacobian that backward() produces, one output element at a time.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import no_grad

_np = backend.host_numpy()


class GradcheckError(AssertionError):
    pass


def _outputs(fn, inputs):
    out = fn(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True) -> bool:
    """True when analytical and numerical Jacobians agree; otherwise raise (or return
    False) with a report naming the input, the element and both values."""
    from tensorweaver.tensor import Tensor

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff_inputs = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i, t in diff_inputs:
        if t.dtype != _np.float64:
            raise GradcheckError(f"gradcheck: input {i} is {t.dtype}; use float64 inputs "
                                 "(central differences are too coarse in float32)")
    outputs = _outputs(fn, inputs)

    # Analytical Jacobian rows, from one backward per output element.
    analytical = {i: [] for i, _ in diff_inputs}
    for k, out in enumerate(outputs):
        n_out = max(out.numel(), 1)
        for j in range(n_out):
            for _, t in diff_inputs:
                t.grad = None
            if not out.requires_grad:
                for i, t in diff_inputs:
                    analytical[i].append(_np.zeros(t.numel()))
                continue
            seed = _np.zeros(n_out)
            seed[j] = 1.0
            out.backward(Tensor(seed.reshape(out.shape)), retain_graph=True)
            for i, t in diff_inputs:
                g = t.grad.numpy().reshape(-1) if t.grad is not None else _np.zeros(t.numel())
                analytical[i].append(g.copy())
    for _, t in diff_inputs:
        t.grad = None

    # Numerical Jacobian columns.
    failures = []
    for i, t in diff_inputs:
        host = backend.to_host(t.data).astype(_np.float64).copy()
        flat = host.reshape(-1)
        num_rows = []
        for e in range(flat.size):
            orig = flat[e]
            flat[e] = orig + eps
            t.data = backend.from_host(host.copy())
            with no_grad():
                plus = [backend.to_host(o.data).astype(_np.float64).reshape(-1) for o in _outputs(fn, inputs)]
            flat[e] = orig - eps
            t.data = backend.from_host(host.copy())
            with no_grad():
                minus = [backend.to_host(o.data).astype(_np.float64).reshape(-1) for o in _outputs(fn, inputs)]
            flat[e] = orig
            num_rows.append(_np.concatenate([(p - m) / (2 * eps) for p, m in zip(plus, minus)]))
        t.data = backend.from_host(host)
        numerical = _np.stack(num_rows, axis=1) if num_rows else _np.zeros((0, 0))   # (n_out_total, n_in)
        analytic = _np.stack(analytical[i], axis=0) if analytical[i] else _np.zeros((0, 0))
        if numerical.shape != analytic.shape:
            failures.append(f"input {i}: Jacobian shapes differ, numerical {numerical.shape} vs analytical {analytic.shape}")
            continue
        bad = ~_np.isclose(analytic, numerical, rtol=rtol, atol=atol)
        if bad.any():
            r, c = _np.argwhere(bad)[0]
            err = _np.abs(analytic - numerical).max()
            failures.append(
                f"input {i} (shape {t.shape}): {int(bad.sum())} of {bad.size} Jacobian entries differ; "
                f"max abs error {err:.3g}. First at output element {r}, input element "
                f"{tuple(int(k) for k in _np.unravel_index(c, t.shape)) if t.shape else ()}: analytical {analytic[r, c]:.10g}, "
                f"numerical {numerical[r, c]:.10g}")
    if failures:
        if raise_exception:
            raise GradcheckError("gradcheck failed:\n  " + "\n  ".join(failures))
        return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, seed=0) -> bool:
    """Second derivatives: ``gradcheck`` of the first gradients, as torch's ``gradgradcheck``.

    The first gradients ``grad(fn(*inputs), inputs, grad_outputs, create_graph=True)`` are a
    function of the inputs and of ``grad_outputs``; that function's backward (the recorded
    ``tensor_backward`` rules) is compared with its central differences in float64.
    ``grad_outputs`` default to random float64 tensors (seeded by ``seed``), one per output.
    """
    from tensorweaver.autograd.gradients import grad
    from tensorweaver.autograd.grad_mode import enable_grad
    from tensorweaver.tensor import Tensor, _make_tensor

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    with enable_grad():
        outputs = _outputs(fn, inputs)
    if grad_outputs is None:
        rng = _np.random.default_rng(seed)
        grad_outputs = tuple(Tensor(backend.from_host(rng.standard_normal(o.shape)), requires_grad=True)
                             for o in outputs)
    else:
        grad_outputs = tuple(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
    if len(grad_outputs) != len(outputs):
        raise GradcheckError(f"gradgradcheck: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    n = len(inputs)

    def first_gradients(*args):
        xs, gos = args[:n], args[n:]
        with enable_grad():                # gradcheck's numerical pass runs under no_grad
            outs = _outputs(fn, xs)
            pairs = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
            if not pairs:
                gs = (None,) * len(diff)
            else:
                gs = grad([o for o, _ in pairs], [xs[i] for i in diff], [g for _, g in pairs],
                          create_graph=True, allow_unused=True)
        return tuple(g if g is not None else
                     _make_tensor(backend.xp.zeros(xs[i].shape, dtype=xs[i].dtype), False, None)
                     for g, i in zip(gs, diff))

    return gradcheck(first_gradients, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
