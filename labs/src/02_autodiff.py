# %% [markdown]
# # Lab 02 — Autodiff by hand
#
# **Prerequisites:** labs 00, 01 · **Expected time:** 120 min
#
# `loss.backward()` looks like magic. It is not: during the forward pass every operation
# records **one node** of a graph, and backward walks that graph in reverse, applying the
# chain rule one node at a time. In this lab you open the box:
#
# 1. look at the graph a forward pass builds, and draw it;
# 2. write an operation of your own, `MultiplyOp`, with its backward (exercise), and see the
#    same op in PyTorch's `ctx` style;
# 3. test it with **gradcheck**, against finite differences;
# 4. order the graph topologically and run backward yourself (exercises), then compare with
#    the engine's `backward()`;
# 5. see why gradients **accumulate** and what `retain_graph` is for;
# 6. change tensors **in place** safely (version counters), as parameter updates do;
# 7. differentiate a gradient: a **Hessian-vector product** with `create_graph=True`.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import tensorweaver as tw
from tensorweaver import backend
from tensorweaver.autograd import Function
from tensorweaver.autograd.function import AccumulateGrad
from tensorweaver.autograd.engine import topological_order
from tensorweaver.labs import record
from tensorweaver.ops.elementwise import unbroadcast

xp = backend.xp          # the array module the ops compute with (NumPy or cuPyNumeric)
tw.manual_seed(0)
print("backend:", backend.name)

# %% [markdown]
# ## 1. The graph
#
# A tensor made by an operation on tensors that require grad remembers the operation in
# `grad_fn`. Each `grad_fn` is a `Function` node; as in PyTorch, `next_functions` holds one
# `(node, 0)` pair per input: the node that produced it, an `AccumulateGrad` node for a
# **leaf** tensor (a tensor you created, which will receive `.grad`; the tensor is its
# `.variable`), or `None` (a constant: no gradient needed).

# %%
a = tw.tensor([1.0, 2.0, 3.0], requires_grad=True)
b = tw.tensor([4.0, 5.0, 6.0], requires_grad=True)
c = tw.tensor(0.5, requires_grad=True)
y = (a * b + c).tanh().sum()
print("y        =", y)
print("y.grad_fn             ", y.grad_fn)
print("  .next_functions     ", y.grad_fn.next_functions)
tanh_node, _ = y.grad_fn.next_functions[0]
print("  tanh.next_functions ", tanh_node.next_functions)
print("a is a leaf:", a.is_leaf, "  y is a leaf:", y.is_leaf)

# %% [markdown]
# Drawing it makes the structure plain. The function below walks the graph from the output
# (on the right) to the leaves (on the left), using the engine's own topological order.

# %%
def draw_graph(root, names=None, ax=None):
    """Draw the graph that produced the tensor ``root``; ``names`` maps leaf tensors to labels."""
    names = {id(t): n for n, t in (names or {}).items()}
    depth = {root.grad_fn: 0}
    for fn in topological_order(root.grad_fn):          # consumers before producers
        for edge, _ in fn.next_functions:
            if edge is not None:
                depth[edge] = max(depth.get(edge, 0), depth[fn] + 1)
    columns = {}
    for node, d in depth.items():
        columns.setdefault(d, []).append(node)
    pos = {node: (-d, i - (len(col) - 1) / 2) for d, col in columns.items() for i, node in enumerate(col)}
    ax = ax or plt.subplots(figsize=(2.2 * len(columns), 1.2 + 0.9 * max(map(len, columns.values()))))[1]
    for node, (x0, y0) in pos.items():
        if isinstance(node, AccumulateGrad):
            leaf = node.variable
            label, color = f"{names.get(id(leaf), 'leaf')}\n{tuple(leaf.shape)}", "#cde8c8"
        else:
            label, color = node.op_name, "#f7d9a8"
        ax.text(x0, y0, label, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", fc=color, ec="0.3"))
        if not isinstance(node, AccumulateGrad):
            for edge, _ in node.next_functions:
                if edge is not None:
                    ax.annotate("", xy=(x0 - 0.25, y0), xytext=(pos[edge][0] + 0.25, pos[edge][1]),
                                arrowprops=dict(arrowstyle="->", color="0.4"))
    ax.set_xlim(-len(columns) + 0.4, 0.6)
    ax.set_ylim(-max(map(len, columns.values())) / 2 - 0.3, max(map(len, columns.values())) / 2 + 0.3)
    ax.axis("off")
    return ax


draw_graph(y, {"a": a, "b": b, "c": c})
plt.title("y = sum(tanh(a * b + c)): leaves (green), operations (orange)")
plt.show()

# %% [markdown]
# ## 2. An operation of your own
#
# A `Function` has two methods, both on **backend arrays** (not tensors):
#
# - `forward(self, *inputs)` computes the output and saves what backward will need with
#   `self.save_for_backward(...)`;
# - `backward(self, grad)` receives $\partial L/\partial \text{out}$ (same shape as the output)
#   and returns one gradient per input, $\partial L/\partial \text{in}_k$, each **of that
#   input's shape**.
#
# For $z = x \cdot y$ (elementwise), $\partial L/\partial x = \partial L/\partial z \cdot y$ and
# $\partial L/\partial y = \partial L/\partial z \cdot x$. With broadcasting there is one more
# step: if `y` had shape `(4,)` and was stretched to `(3, 4)`, each `y[j]` influenced three
# outputs, so its gradient is the **sum** over the stretched dimension. `unbroadcast(g, shape)`
# does exactly that sum.
#
# **Exercise 1.** Complete `MultiplyOp`.

# %%
class MultiplyOp(Function):
    def forward(self, x, y):
        self.save_for_backward(x, y)
        return x * y

    def backward(self, grad):
        x, y = self.saved_tensors
        ### BEGIN SOLUTION
        grad_x = unbroadcast(grad * y, x.shape)
        grad_y = unbroadcast(grad * x, y.shape)
        return grad_x, grad_y
        ### END SOLUTION


def multiply(x, y):
    return MultiplyOp.apply(x, y)


# %% [markdown]
# ## 3. Gradcheck
#
# How do we know a backward is right? Compare it with the definition of the derivative:
# $\frac{\partial f}{\partial x_i} \approx \frac{f(x + \epsilon e_i) - f(x - \epsilon e_i)}{2\epsilon}$.
# `tw.autograd.gradcheck` does this for every input element and every output element, in
# **float64** (in float32, $\epsilon$-sized differences drown in round-off).

# %%
# CHECK (2 points): MultiplyOp's backward agrees with finite differences, with and without
# broadcasting.
x64 = tw.randn(3, 4, dtype=tw.float64, requires_grad=True)
y64 = tw.randn(3, 4, dtype=tw.float64, requires_grad=True)
row64 = tw.randn(4, dtype=tw.float64, requires_grad=True)
assert tw.autograd.gradcheck(multiply, (x64, y64))
assert tw.autograd.gradcheck(multiply, (x64, row64))
print("gradcheck passed")
### BEGIN HIDDEN TESTS
# Broadcasting on both sides, a size-1 dimension kept, and a scalar factor.
a_h = tw.randn(2, 1, 4, dtype=tw.float64, requires_grad=True)
b_h = tw.randn(3, 1, dtype=tw.float64, requires_grad=True)
s_h = tw.tensor(1.7, dtype=tw.float64, requires_grad=True)
assert tw.autograd.gradcheck(multiply, (a_h, b_h))
assert tw.autograd.gradcheck(multiply, (s_h, a_h))
# The gradient of a stretched input is summed: d/db sum(a * b) = sum of a over the rows.
b_row = tw.arange(3.0, dtype=tw.float64).requires_grad_()
multiply(tw.full((2, 3), 2.0, dtype=tw.float64), b_row).sum().backward()
np.testing.assert_allclose(b_row.grad.numpy(), np.full(3, 4.0))
### END HIDDEN TESTS

# %% [markdown]
# A wrong backward is caught, with a report of where it differs. Here the gradients are
# swapped (a classic slip):

# %%
class SwappedMultiply(MultiplyOp):
    def backward(self, grad):
        x, y = self.saved_tensors
        return grad * x, grad * y          # wrong: each input needs the *other* factor


try:
    tw.autograd.gradcheck(SwappedMultiply.apply, (x64, y64))
except AssertionError as exc:
    print(str(exc)[:400])

# %% [markdown]
# ### The same op, written the way PyTorch's tutorials write it
#
# The engine's ops use the style above: an instance per call, methods on **arrays**. PyTorch
# code written by others extends autograd with **static** methods on **tensors** and a
# context object `ctx` (it is the graph node): `forward(ctx, ...)` runs without recording,
# `backward(ctx, grad)` returns one gradient per input (`None` where `ctx.needs_input_grad`
# says none is needed). Both styles work here, and gradcheck checks both.

# %%
class TorchStyleMultiply(tw.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        grad_x = grad * y if ctx.needs_input_grad[0] else None
        grad_y = grad * x if ctx.needs_input_grad[1] else None
        return grad_x, grad_y


z = TorchStyleMultiply.apply(x64, y64)
print("grad_fn:", z.grad_fn.name())
print("gradcheck (PyTorch style):", tw.autograd.gradcheck(TorchStyleMultiply.apply, (x64, y64)))

# %% [markdown]
# ## 4. Running backward yourself
#
# Backward must visit a node only after **every** node that consumes its output has sent its
# gradient contribution (a tensor used twice receives the sum of two contributions). A
# **topological order** guarantees that. The engine builds it with an iterative depth-first
# search from the output: a node is *finished* only after all of its inputs are finished, so
# reversing the finishing order puts every node before its inputs — that is, after every
# node that consumes it.
#
# **Exercise 2.** Write `topo_order(root_fn)`: all Function nodes reachable from `root_fn`
# (follow `next_functions`; skip `None` and the leaves' `AccumulateGrad` nodes), each listed
# **before** the nodes in its `next_functions`. Use an explicit stack, not recursion (a
# 10,000-layer graph would overflow Python's recursion limit).

# %%
def topo_order(root_fn):
    ### BEGIN SOLUTION
    finished, visited = [], set()
    stack = [(root_fn, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            finished.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))            # finish after its inputs
        for edge, _ in node.next_functions:
            if edge is not None and not isinstance(edge, AccumulateGrad) and edge not in visited:
                stack.append((edge, False))
    return finished[::-1]
    ### END SOLUTION


# %%
# CHECK (2 points): every reachable Function node once, each before the nodes it feeds.
def _order_is_valid(order, root_fn):
    reachable = topological_order(root_fn)           # the engine's order: the same node set
    assert len(order) == len(set(order)), "a node appears twice"
    assert set(order) == set(reachable), (len(order), len(reachable))
    position = {node: i for i, node in enumerate(order)}
    assert all(position[e] > position[n] for n in order for e, _ in n.next_functions if e in position)


u = tw.randn(4, requires_grad=True)
v = (u * 2).exp()
root_v = ((v * u).sum() + v.sum()).grad_fn                   # v is used twice
_order_is_valid(topo_order(root_v), root_v)
print("topo_order ok")
### BEGIN HIDDEN TESTS
# A diamond (one node consumed by two others), a tensor used many times, and a chain of 3000
# operations: recursion would exceed Python's limit there.
d_h = u.sin()
root_h = (d_h.exp() * d_h.cos() + d_h).sum().grad_fn
_order_is_valid(topo_order(root_h), root_h)
fan_h = sum(u * k for k in range(1, 6)).sum()
_order_is_valid(topo_order(fan_h.grad_fn), fan_h.grad_fn)
chain_h = u
for _ in range(3000):
    chain_h = chain_h * 1.0
root_h = chain_h.sum().grad_fn
chain_order = topo_order(root_h)
assert len(chain_order) == 3001, len(chain_order)
_order_is_valid(chain_order, root_h)
### END HIDDEN TESTS

# %% [markdown]
# **Exercise 3.** Write `my_backward(root)` for a scalar tensor `root`. Start with the
# gradient $\partial \text{root}/\partial \text{root} = 1$ at `root.grad_fn`; for each node in
# topological order, call `node.backward(grad)` (it may return one array or a tuple), and send
# each input's gradient along the matching entry of `node.next_functions`: to another node's
# pending gradient, or — for a leaf's `AccumulateGrad` — into the result, keyed by the leaf
# tensor (`edge.variable`). **Add** when something already arrived there. Return
# `{leaf tensor: gradient array}`. (`order` is the function that orders the graph: yours by
# default; the check below passes the engine's, so that this exercise is graded on its own.)

# %%
def my_backward(root, order=None):
    pending = {root.grad_fn: xp.ones(root.shape, dtype=root.dtype)}
    leaf_grads = {}
    for node in (order or topo_order)(root.grad_fn):
        grad = pending.pop(node)
        ### BEGIN SOLUTION
        input_grads = node.backward(grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for (edge, _), g in zip(node.next_functions, input_grads):
            if edge is None or g is None:
                continue
            if isinstance(edge, AccumulateGrad):
                target, edge = leaf_grads, edge.variable
            else:
                target = pending
            target[edge] = target[edge] + g if edge in target else g
        ### END SOLUTION
    return leaf_grads


# %%
# CHECK (3 points): a graph with fan-out (w is used twice, h feeds two branches); your
# backward and the engine's agree.
w = tw.randn(5, 3, requires_grad=True)
bias = tw.randn(3, requires_grad=True)
inp = tw.randn(8, 5)
h = (inp @ w + bias).relu()
loss = (h * h).mean() + (h.sigmoid() @ w.T).sum() * 0.1

order = topological_order(loss.grad_fn)
mine = my_backward(loss, order=topological_order)
loss.backward()
assert set(mine) == {w, bias}, "one gradient per leaf that requires grad"
max_err = max(float(np.abs(backend.to_host(mine[t]) - t.grad.numpy()).max()) for t in (w, bias))
print(f"{len(order)} nodes; max |my_backward - backward()| = {max_err:.2e}")
assert max_err < 1e-5
### BEGIN HIDDEN TESTS
# Another graph, in float64: a leaf used three times, one broadcast into a matrix, a constant
# input (no gradient), and an op returning one gradient (not a tuple).
p_h = tw.randn(4, 3, dtype=tw.float64, requires_grad=True)
q_h = tw.randn(3, dtype=tw.float64, requires_grad=True)
c_h = tw.randn(4, 3, dtype=tw.float64)
out_h = ((p_h * q_h + c_h).tanh() * p_h).sum() + (p_h.exp() * c_h).mean() + q_h.sum() * 2
mine_h = my_backward(out_h, order=topological_order)
out_h.backward()
assert set(mine_h) == {p_h, q_h}
for t_h in (p_h, q_h):
    np.testing.assert_allclose(backend.to_host(mine_h[t_h]), t_h.grad.numpy(), rtol=1e-12, atol=1e-14)
### END HIDDEN TESTS

# %%
draw_graph(loss, {"w": w, "bias": bias})
plt.title("the graph of the check above: w and h fan out")
plt.show()

# %% [markdown]
# ## 5. Gradients accumulate; graphs are freed
#
# `backward()` **adds** into `.grad`; it does not overwrite. That is what makes gradient
# accumulation over micro-batches work (lab 03), and why training loops call `zero_grad()`.
# After backward the graph's saved arrays are freed (memory!), so a second backward through
# the same graph fails — unless the first one passed `retain_graph=True`.

# %%
p = tw.tensor([1.0, 2.0], requires_grad=True)
out = (p * p).sum()
out.backward(retain_graph=True)
print("after one backward :", p.grad)          # 2p
out.backward()
print("after two backwards:", p.grad)          # 2p + 2p: accumulated
try:
    out.backward()
except RuntimeError as exc:
    print("third backward ->", exc)
with tw.no_grad():
    q = p * 2
print("under no_grad, q.requires_grad =", q.requires_grad, "and q.grad_fn =", q.grad_fn)

# %% [markdown]
# ## 6. In-place changes, and why backward can refuse them
#
# Forward ops always make new tensors. In-place ops (`add_`, `zero_`, `x -= y`, `x[i] = v`)
# exist for what training needs: updating parameters, initialising, keeping buffers. They
# are dangerous in one way: an op may have **saved** a tensor for its backward (`Mul` saves
# both factors), and changing that tensor afterwards would make backward compute with the
# wrong numbers. So every tensor's memory carries a **version counter**: each in-place op
# bumps it, each saved tensor remembers the version it was saved at, and backward refuses
# a changed one — loudly, naming the op and both versions.

# %%
w = tw.tensor([1.0, 2.0, 3.0], requires_grad=True)
x = tw.tensor([1.0, 2.0, 3.0])
y = (w * x).sum()                 # Mul saved x (w's gradient is x)
print("x._version before:", x._version)
x[0] = 100.0                      # an in-place write: version 0 -> 1
print("x._version after :", x._version)
try:
    y.backward()
    version_error_caught = False
except RuntimeError as exc:
    version_error_caught = True
    print("backward refused:", exc)

# %% [markdown]
# The update every training loop makes is an in-place change of a leaf that requires grad.
# It is allowed under `tw.no_grad()` (it is not part of the model), and keeps the very same
# tensor object, so `.grad` and any optimizer state stay attached to it. In grad mode it is
# refused; on a tensor computed by an op, an in-place op is recorded in the graph instead
# (the tensor gets a new `grad_fn` chained to the old one).

# %%
w = tw.tensor([1.0, -2.0], requires_grad=True)
same = w
for _ in range(3):
    loss = (w * w).sum()
    loss.backward()
    with tw.no_grad():
        w -= 0.25 * w.grad        # in place: still the same tensor
    w.grad.zero_()
print("w:", w, "| same object:", w is same, "| version:", w._version)
try:
    w.add_(1.0)                   # grad mode: refused
except RuntimeError as exc:
    print("in grad mode ->", str(exc).split(".")[0])
h = w * 2                         # a non-leaf: the in-place op is recorded
h.mul_(3)
print("h.grad_fn:", h.grad_fn.name(), "->", h.grad_fn.next_functions[0][0].name())

# %% [markdown]
# ## 7. Gradients of gradients
#
# `tw.autograd.grad(y, x, create_graph=True)` returns the gradient **as a tensor with its
# own graph**, so it can be differentiated again. The classic use is the Hessian-vector
# product $Hv = \nabla_x (\nabla_x f \cdot v)$: second-order information at the cost of two
# backward passes, without ever building the Hessian. Below we check it against central
# differences of the gradient, $(\nabla f(x + \epsilon v) - \nabla f(x - \epsilon v)) / 2\epsilon$.

# %%
def f(x):
    return (x.sin() * x.exp()).sum() + (x ** 3).sum()


def gradient(x):
    x = x.detach().requires_grad_()
    (g,) = tw.autograd.grad(f(x), x)
    return g


x = tw.tensor([0.3, -1.2, 0.8], dtype=tw.float64, requires_grad=True)
v = tw.tensor([1.0, 0.5, -2.0], dtype=tw.float64)
(g,) = tw.autograd.grad(f(x), x, create_graph=True)      # g has a graph
(hv,) = tw.autograd.grad((g * v).sum(), x)                # differentiate g . v
eps = 1e-6
hv_numeric = (gradient(x + eps * v) - gradient(x - eps * v)) / (2 * eps)
hvp_max_error = float((hv - hv_numeric).abs().max())
print("Hv (double backward) :", hv)
print("Hv (finite diffs)    :", hv_numeric)
print("max difference       :", hvp_max_error)
print("x**3 twice: d2/dx2 =", tw.autograd.grad(tw.autograd.grad((x ** 3).sum(), x, create_graph=True)[0].sum(), x)[0],
      "(6x =", 6 * x.detach(), ")")

# %%
record(gradcheck_passed=True, my_backward_max_error=max_err, graph_nodes=len(order),
       version_error_caught=version_error_caught, hvp_max_error=hvp_max_error)

# %% [markdown]
# ## What you saw
#
# - The forward pass records a graph of `Function` nodes; leaves receive `.grad`.
# - A backward returns one gradient per input, summed back over broadcast dimensions.
# - gradcheck (float64 central differences) is how every op in the engine is tested.
# - Backward is a loop over a topological order, summing what arrives at each node.
# - In-place changes are counted; backward refuses a saved tensor that changed since.
# - With `create_graph=True`, a gradient is itself differentiable (Hessian-vector products).
#
# Next: [03 — Linear regression with SGD](03_linear_regression.ipynb).
