"""Write tests/data/engine_pieces.npz: PyTorch's answers for the engine track's pieces.

    .venv/bin/python tools/make_engine_references.py        # needs the `torch` extra

The engine track (labs 10 and 12) grades the pieces a student writes with the project's
tests. Most torch-oracle tests skip where PyTorch is absent (the CPU image), so
``tests/test_engine_pieces.py`` compares with the values stored here instead: they were
computed once by PyTorch from inputs drawn with NumPy, and are committed with this script.
Run it again only when a case is added or changed (the file is rewritten whole; the output
is deterministic).

What is stored, per piece (keys ``piece/case/name``, float64 unless said):

- ``init``: the bound (uniform) or standard deviation (normal) PyTorch's ``nn.init``
  functions pass to ``uniform_``/``normal_``, recorded while they run;
  the fans of ``_calculate_fan_in_and_fan_out`` and the gains of ``calculate_gain``;
- ``sgd``, ``adam``: the parameters of a small float64 model after 1 and after 25 steps of
  ``torch.optim.SGD``/``Adam`` with each option set (the gradients come from a loss the
  test recomputes with the engine's own autograd);
- ``dropout``: an input, the keep-mask drawn on the host the documented way (PCG64 seeded
  with ``seed``; ``u = random(shape, float32)``, kept where ``u >= p``), and PyTorch's
  output and input gradient for that mask (torch's own masks come from another generator);
- ``layer_norm``, ``batch_norm``, ``max_pool``, ``avg_pool``, ``conv2d``: inputs, an
  upstream gradient and PyTorch's gradients (input, weight, bias) in float64.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "engine_pieces.npz"
rng = np.random.default_rng(20261201)
data: dict[str, np.ndarray] = {}


def put(key, value):
    if key in data:
        raise KeyError(f"duplicate reference {key}")
    # a copy: a tensor's numpy() shares its memory, which later steps change
    data[key] = np.array(value.detach().numpy() if isinstance(value, torch.Tensor) else value, copy=True)


def t64(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ----------------------------------------------------------------------------- init
class RecordFill:
    """While active, records the bound b of every ``Tensor.uniform_(-b, b)`` and the std of
    every ``Tensor.normal_(0, std)`` (what torch's init functions end with)."""

    def __enter__(self):
        self.calls, self.saved = [], (torch.Tensor.uniform_, torch.Tensor.normal_)
        uniform, normal = self.saved

        def recording_uniform(tensor, a=0.0, b=1.0, *args, **kwargs):
            self.calls.append(("uniform", float(a), float(b)))
            return uniform(tensor, a, b, *args, **kwargs)

        def recording_normal(tensor, mean=0.0, std=1.0, *args, **kwargs):
            self.calls.append(("normal", float(mean), float(std)))
            return normal(tensor, mean, std, *args, **kwargs)
        torch.Tensor.uniform_, torch.Tensor.normal_ = recording_uniform, recording_normal
        return self

    def __exit__(self, *exc):
        torch.Tensor.uniform_, torch.Tensor.normal_ = self.saved


#: case -> (function name, shape, keyword arguments); the test calls the engine's function
#: of the same name with the same arguments.
INIT_CASES = {
    "xavier_uniform_2d": ("xavier_uniform_", (30, 20), {}),
    "xavier_uniform_conv_gain": ("xavier_uniform_", (8, 3, 5, 5), {"gain": 1.7}),
    "xavier_normal_2d": ("xavier_normal_", (12, 40), {}),
    "xavier_normal_conv_gain": ("xavier_normal_", (6, 4, 3, 2), {"gain": 0.5}),
    "kaiming_uniform_default": ("kaiming_uniform_", (16, 9), {}),
    "kaiming_uniform_linear_a_sqrt5": ("kaiming_uniform_", (10, 50), {"a": 5 ** 0.5}),
    "kaiming_uniform_relu_fan_out": ("kaiming_uniform_", (7, 3, 3, 3), {"mode": "fan_out", "nonlinearity": "relu"}),
    "kaiming_normal_relu": ("kaiming_normal_", (20, 64), {"nonlinearity": "relu"}),
    "kaiming_normal_leaky_fan_out": ("kaiming_normal_", (5, 6, 2, 2), {"a": 0.2, "mode": "fan_out"}),
    "kaiming_normal_tanh": ("kaiming_normal_", (9, 11), {"nonlinearity": "tanh"}),
    "kaiming_uniform_selu": ("kaiming_uniform_", (4, 5, 3), {"nonlinearity": "selu"}),
}

for case, (fn, shape, kw) in INIT_CASES.items():
    recorder = RecordFill()
    with recorder:
        getattr(torch.nn.init, fn)(torch.empty(shape, dtype=torch.float64), **kw)
    [(kind, first, second)] = recorder.calls
    # uniform: the bound b of U(-b, b); normal: the std of N(0, std^2)
    put(f"init/{case}/value", second)

GAINS = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu", None)]
put("init/gains", [torch.nn.init.calculate_gain(name, param) for name, param in GAINS])
FAN_SHAPES = [(5, 3), (4, 3, 2, 2), (6, 2, 7), (2, 9, 1, 3, 2)]
put("init/fans", [torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(s)) for s in FAN_SHAPES])


# ----------------------------------------------------------------------------- optimizers
X = rng.normal(size=(8, 4))
Y = rng.normal(size=(8, 3))
W0 = rng.normal(size=(3, 4)) * 0.5
B0 = rng.normal(size=(3,)) * 0.1
put("optim/x", X)
put("optim/y", Y)
put("optim/w0", W0)
put("optim/b0", B0)


def optim_loss(w, b, x, y):
    """The loss the test recomputes with the engine (same operations, same order)."""
    out = x @ w.T + b
    return ((out - y) ** 2).mean() + 0.1 * (out ** 4).mean()


# The optimizer cases are the test's own table: one definition, so the stored answers are
# always for the cases tests/test_engine_pieces.py runs.
sys.path.insert(0, str(OUT.parents[1]))
from test_engine_pieces import ADAM_CASES, SGD_CASES, STEPS  # noqa: E402


def trajectory(piece, cls, cases):
    for case, kw in cases.items():
        w, b = t64(W0, True), t64(B0, True)
        opt = cls([w, b], **kw)
        x, y = t64(X), t64(Y)
        for step in range(1, STEPS + 1):
            opt.zero_grad()
            sign = -1.0 if kw.get("maximize") else 1.0
            (optim_loss(w, b, x, y) * sign).backward()
            opt.step()
            if step in (1, STEPS):
                put(f"{piece}/{case}/w{step}", w)
                put(f"{piece}/{case}/b{step}", b)


trajectory("sgd", torch.optim.SGD, SGD_CASES)
trajectory("adam", torch.optim.Adam, ADAM_CASES)


# ----------------------------------------------------------------------------- dropout
def host_mask(shape, p, seed):
    u = np.random.Generator(np.random.PCG64(seed)).random(shape, dtype=np.float32)
    return u >= p


for case, (shape, p, seed) in {"p03": ((6, 7), 0.3, 11), "p05_3d": ((2, 3, 5), 0.5, 12),
                               "p09": ((40,), 0.9, 13)}.items():
    x = rng.normal(size=shape)
    gy = rng.normal(size=shape)
    keep = torch.tensor(host_mask(shape, p, seed))
    xt = t64(x, True)
    y = torch.where(keep, xt / (1 - p), torch.zeros((), dtype=torch.float64))
    (y * t64(gy)).sum().backward()
    put(f"dropout/{case}/x", x)
    put(f"dropout/{case}/gy", gy)
    put(f"dropout/{case}/p", p)
    put(f"dropout/{case}/seed", seed)
    put(f"dropout/{case}/y", y)
    put(f"dropout/{case}/gx", xt.grad)


# ----------------------------------------------------------------------------- layers
def grads(piece, case, fn, inputs):
    """Stores the inputs, an upstream gradient and torch's gradients of every input."""
    tensors = {k: t64(v, True) for k, v in inputs.items()}
    out = fn(**tensors)
    gy = rng.normal(size=tuple(out.shape))
    (out * t64(gy)).sum().backward()
    for k, v in inputs.items():
        put(f"{piece}/{case}/{k}", v)
        put(f"{piece}/{case}/g{k}", tensors[k].grad)
    put(f"{piece}/{case}/gy", gy)


for case, (shape, normalized) in {"last": ((3, 5, 6), (6,)), "two": ((2, 5, 6), (5, 6)),
                                  "rows": ((7, 4), (4,))}.items():
    grads("layer_norm", case, lambda x, w, b: F.layer_norm(x, normalized, w, b, 1e-5),
          {"x": rng.normal(size=shape) * 2 + 1, "w": rng.normal(size=normalized), "b": rng.normal(size=normalized)})
x = rng.normal(size=(4, 6))
grads("layer_norm", "no_affine", lambda x: F.layer_norm(x, (6,), None, None, 1e-5), {"x": x})

for case, shape in {"1d": (8, 4), "1d_seq": (3, 4, 5), "2d": (4, 3, 5, 2)}.items():
    c = shape[1]
    grads("batch_norm", f"train_{case}",
          lambda x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5),
          {"x": rng.normal(size=shape) * 3 - 1, "w": rng.normal(size=c), "b": rng.normal(size=c)})
rm, rv = rng.normal(size=3), rng.uniform(0.5, 2.0, size=3)
put("batch_norm/eval_2d/running_mean", rm)
put("batch_norm/eval_2d/running_var", rv)
grads("batch_norm", "eval_2d",
      lambda x, w, b: F.batch_norm(x, t64(rm), t64(rv), w, b, False, 0.1, 1e-5),
      {"x": rng.normal(size=(2, 3, 4, 4)), "w": rng.normal(size=3), "b": rng.normal(size=3)})
grads("batch_norm", "train_no_affine", lambda x: F.batch_norm(x, None, None, None, None, True, 0.1, 1e-5),
      {"x": rng.normal(size=(5, 2, 3))})

#: case -> (input shape, kernel, stride, padding, dilation, ceil_mode)
MAX_POOL = {
    "k2": ((2, 3, 6, 8), 2, 2, 0, 1, False),
    "k3_s2_p1_ceil": ((2, 2, 7, 6), 3, 2, 1, 1, True),
    "k2_s1_dil2": ((1, 3, 7, 7), 2, 1, 0, 2, False),
    "rect": ((2, 2, 6, 7), (3, 2), (2, 1), (1, 1), 1, False),
}
for case, (shape, k, s, p, d, ceil) in MAX_POOL.items():
    size = int(np.prod(shape))
    x = rng.permutation(size).reshape(shape) / 7.0          # distinct values: no ties
    grads("max_pool", case, lambda x: F.max_pool2d(x, k, s, p, d, ceil), {"x": x})

#: case -> (input shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_POOL = {
    "k2": ((2, 3, 6, 8), 2, 2, 0, False, True, None),
    "k3_s1_p1": ((2, 2, 5, 6), 3, 1, 1, False, True, None),
    "k3_s2_p1_ceil_exclude": ((2, 2, 7, 6), 3, 2, 1, True, False, None),
    "k2_s1_divisor": ((1, 2, 5, 5), 2, 1, 0, False, True, 3),
}
for case, (shape, k, s, p, ceil, incl, div) in AVG_POOL.items():
    grads("avg_pool", case, lambda x: F.avg_pool2d(x, k, s, p, ceil, incl, div), {"x": rng.normal(size=shape)})

#: case -> (input shape, weight shape, stride, padding, dilation, groups)
CONV = {
    "s1_p1": ((2, 3, 6, 5), (4, 3, 3, 3), 1, 1, 1, 1),
    "s2": ((2, 3, 7, 7), (4, 3, 3, 3), 2, 0, 1, 1),
    "s2_p1_rect": ((1, 2, 8, 6), (3, 2, 3, 2), (2, 1), (1, 0), 1, 1),
    "dil2_p2": ((2, 2, 7, 7), (2, 2, 3, 3), 1, 2, 2, 1),
    "groups2": ((2, 4, 5, 5), (6, 2, 3, 3), 1, 1, 1, 2),
    "k1": ((3, 5, 4, 4), (2, 5, 1, 1), 1, 0, 1, 1),
}
for case, (xs, ws, s, p, d, g) in CONV.items():
    grads("conv2d", case, lambda x, w, b: F.conv2d(x, w, b, s, p, d, g),
          {"x": rng.normal(size=xs), "w": rng.normal(size=ws) * 0.5, "b": rng.normal(size=ws[0])})

OUT.parent.mkdir(parents=True, exist_ok=True)
np.savez_compressed(OUT, **data)
print(f"{OUT}: {len(data)} arrays from torch {torch.__version__}", file=sys.stderr)
