"""L-BFGS: a quasi-Newton method that needs a closure re-evaluating the loss.

The inverse Hessian is approximated from the last ``history_size`` pairs of parameter
steps ``s`` and gradient changes ``y`` (the two-loop recursion). Without a line search
each iteration moves by ``lr`` along that direction; with ``line_search_fn="strong_wolfe"``
the step length is chosen by bracketing and cubic interpolation until the strong Wolfe
conditions hold. Scalars (step lengths, dot products, losses) are host floats; vectors
are flat backend arrays of all parameters together.
"""
from __future__ import annotations

from tensorweaver import backend
from tensorweaver.autograd.grad_mode import enable_grad, no_grad
from tensorweaver.ops.inplace import bump_version
from tensorweaver.optim.optimizer import Optimizer
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp


def _dot(a, b) -> float:
    return float(xp.dot(a, b))


def _abs_max(a) -> float:
    return float(xp.max(xp.abs(a)))


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2,
    clipped to ``bounds`` (default: the interval between the two points); the midpoint
    when the cubic has no minimum there."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = disc ** 0.5
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Find a step ``t`` along ``d`` that satisfies the strong Wolfe conditions
    (sufficient decrease ``f(t) <= f + c1 t gtd`` and curvature ``|g(t).d| <= c2 |gtd|``).

    ``evaluate(t)`` returns the loss and flat gradient at ``x + t d`` (and restores x).
    Returns ``(f_new, g_new, t, evaluations)``."""
    d_norm = _abs_max(d)
    f_new, g_new = evaluate(t)
    evals, gtd_new = 1, _dot(g_new, d)
    # Phase 1: grow t until an interval [t_prev, t] brackets an acceptable point.
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done, it = False, 0
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev):
            bracket, bf, bg, bgtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bf, bg, bgtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bf, bg, bgtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate: between 1.01x and 10x the current step
        t_next = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals, gtd_new, it = evals + 1, _dot(g_new, d), it + 1
    if it == max_ls:
        bracket, bf, bg, bgtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

    # Phase 2 (zoom): shrink the bracket by cubic interpolation until Wolfe holds.
    insufficient = False
    low, high = (0, 1) if bf[0] <= bf[-1] else (1, 0)
    while not done and it < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], bf[0], bgtd[0], bracket[1], bf[1], bgtd[1])
        # Keep t at least 10% of the bracket away from its ends when the last tries
        # made little progress there (otherwise the bracket shrinks too slowly).
        b_lo, b_hi = min(bracket), max(bracket)
        margin = 0.1 * (b_hi - b_lo)
        if min(b_hi - t, t - b_lo) < margin:
            if insufficient or t >= b_hi or t <= b_lo:
                t = b_hi - margin if abs(t - b_hi) < abs(t - b_lo) else b_lo + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals, gtd_new, it = evals + 1, _dot(g_new, d), it + 1
        if f_new > f + c1 * t * gtd or f_new >= bf[low]:
            bracket[high], bf[high], bg[high], bgtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bf[0] <= bf[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bf[high], bg[high], bgtd[high] = bracket[low], bf[low], bg[low], bgtd[low]
            bracket[low], bf[low], bg[low], bgtd[low] = t, f_new, g_new, gtd_new
    return bf[low], bg[low], bracket[low], evals


class LBFGS(Optimizer):
    r"""L-BFGS, as ``torch.optim.LBFGS``: ``step(closure)`` runs up to ``max_iter``
    iterations, each calling ``closure()`` (which must zero the gradients, compute the
    loss, call ``backward()`` and return the loss) once, or several times with a line
    search. It returns the loss of the first evaluation.

    State (torch's names, kept on the first parameter): ``func_evals``, ``n_iter``, the
    last direction ``d`` and step ``t``, the history ``old_dirs`` (y), ``old_stps`` (s),
    ``ro`` (1 / y.s), ``H_diag``, ``prev_flat_grad`` and ``prev_loss``.

    Args:
        params: the parameters (one group only: L-BFGS has no per-group options)
        lr: learning rate (the initial step length). Default: 1
        max_iter: iterations per ``step()``. Default: 20
        max_eval: closure evaluations per ``step()``. Default: ``max_iter * 5 // 4``
        tolerance_grad: stop when the largest gradient entry is at most this. Default: 1e-7
        tolerance_change: stop when the loss or the parameters change less than this. Default: 1e-9
        history_size: number of (s, y) pairs kept. Default: 100
        line_search_fn: None (fixed step ``lr``) or ``"strong_wolfe"``. Default: None
    """

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval=None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100, line_search_fn=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn={line_search_fn!r} is not supported; use None or "
                             "'strong_wolfe'")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups); pass one list of "
                             "parameters")
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group: dict) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ------------------------------------------------------------ flat vectors
    def _flat_grad(self):
        return xp.concatenate([p.grad.data.reshape(-1) if p.grad is not None
                               else xp.zeros(p.numel(), dtype=p.dtype) for p in self._params])

    def _move(self, t: float, d) -> None:
        """p += t * d, slice by slice of the flat direction."""
        offset = 0
        for p in self._params:
            n = p.numel()
            p.data += t * d[offset:offset + n].reshape(p.shape)
            bump_version(p)      # a graph built before this step now refuses to backward
            offset += n

    def _evaluate_at(self, closure, x, t, d):
        """Loss and flat gradient at x + t d; the parameters are put back to x."""
        self._move(t, d)
        loss = float(closure())
        flat_grad = self._flat_grad()
        for p, saved in zip(self._params, x):
            p.data[...] = saved
            bump_version(p)
        return loss, flat_grad

    @no_grad()
    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations. ``closure`` is required."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that zeroes the gradients, computes the loss, calls "
                               "backward() and returns the loss: optimizer.step(closure)")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]

        def evaluate():
            with enable_grad():
                return closure()

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss = evaluate()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if _abs_max(flat_grad) <= tolerance_grad:        # already at a stationary point
            return orig_loss

        d, t = _array(state.get("d")), state.get("t")
        old_dirs = [_array(a) for a in state.get("old_dirs", [])]
        old_stps = [_array(a) for a in state.get("old_stps", [])]
        ro, H_diag = list(state.get("ro", [])), state.get("H_diag")
        prev_flat_grad, prev_loss = _array(state.get("prev_flat_grad")), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            # ---- direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, H_diag = [], [], [], 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = _dot(y, s)
                if ys > 1e-10:                 # keep only pairs with positive curvature
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / _dot(y, y)
                # two-loop recursion: d = -H g
                al = [0.0] * len(old_dirs)
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = _dot(old_stps[i], q) * ro[i]
                    q = q - al[i] * old_dirs[i]
                d = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = _dot(old_dirs[i], d) * ro[i]
                    d = d + (al[i] - be_i) * old_stps[i]
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            # ---- step length
            t = min(1.0, 1.0 / float(xp.sum(xp.abs(flat_grad)))) * lr if state["n_iter"] == 1 else lr
            gtd = _dot(flat_grad, d)
            if gtd > -tolerance_change:        # not a descent direction any more
                break
            if line_search_fn is not None:
                x = [p.data.copy() for p in self._params]
                loss, flat_grad, t, ls_evals = _strong_wolfe(
                    lambda step_len: self._evaluate_at(evaluate, x, step_len, d), t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - evals)
                self._move(t, d)
                converged = _abs_max(flat_grad) <= tolerance_grad
            else:
                self._move(t, d)
                ls_evals, converged = 0, False
                if n_iter != max_iter:         # the last iteration's loss would be unused
                    loss = float(evaluate())
                    flat_grad = self._flat_grad()
                    converged = _abs_max(flat_grad) <= tolerance_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals
            # ---- stopping rules
            if n_iter == max_iter or evals >= max_eval or converged:
                break
            if _abs_max(d * t) <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        state["d"], state["t"] = _tensor(d), t
        state["old_dirs"], state["old_stps"] = [_tensor(a) for a in old_dirs], [_tensor(a) for a in old_stps]
        state["ro"], state["H_diag"] = ro, H_diag
        state["prev_flat_grad"], state["prev_loss"] = _tensor(prev_flat_grad), prev_loss
        return orig_loss

    def _restore(self, name, value, param):
        """L-BFGS state is flat vectors, lists of them and host floats, not per-parameter arrays."""
        if name in ("func_evals", "n_iter"):
            return int(_host_float(value))
        if name in ("t", "H_diag", "prev_loss"):
            return None if value is None else _host_float(value)
        if name == "ro":
            return [_host_float(v) for v in value]
        if name in ("old_dirs", "old_stps"):
            return [_tensor(_array(v)) for v in value]
        if name == "al":                         # torch's scratch buffer for the two-loop recursion
            return None
        if name in ("d", "prev_flat_grad"):
            return None if value is None else _tensor(_array(value))
        return value


def _host_float(value) -> float:
    return float(value.item() if hasattr(value, "item") else value)


def _array(value):
    """A backend array from a state entry (our Tensor, a torch tensor or None)."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return value.data
    host = backend.host_numpy()
    if hasattr(value, "detach"):               # a torch tensor from torch's state_dict
        value = value.detach().cpu().numpy()
    return backend.from_host(host.asarray(value))


def _tensor(arr):
    return None if arr is None else _make_tensor(arr, False, None)
