"""Autograding with nbgrader, every lab: a blank submission scores 0 on every exercise, the
solutions full points, and a wrong answer in one exercise loses exactly that exercise's
points, with the failing check named in checks.csv. Hidden tests, which the release removes,
are run by autograde. Changed or deleted CHECK cells are the instructor's again."""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from labrun import LABS, NOTEBOOKS, REPO, result_of, run_all

pytestmark = [pytest.mark.labs, pytest.mark.slow]
pytest.importorskip("nbgrader", reason="grading is nbgrader's: install the `grading` extra "
                    "(make test-local does)")

from tensorweaver.labs import grading  # noqa: E402

ALL_LABS = [p.stem for p in NOTEBOOKS]

# Wrong answers, one exercise each; the rest of the lab is the solution.
# Lab 00, exercise 2: passes the visible check (a float64 input) and fails only the hidden
# tests (float32 and int64 inputs): it shows that autograde runs what the release removed.
WRONG_ROUNDTRIP = ("def roundtrip(array):\n"
                   "    t = tw.tensor(array, dtype=tw.float64)      # every dtype made float64\n"
                   "    return (2 * t + 1).numpy()\n")
# Lab 01, exercise 2: the naive softmax, which overflows (the visible check catches it).
WRONG_SOFTMAX = ("def stable_softmax(x, dim=-1):\n"
                 "    e = x.exp()\n"
                 "    return e / e.sum(dim=dim, keepdim=True)\n")
# Lab 02, exercise 3: each gradient that arrives overwrites the one already there instead of
# adding to it: wrong wherever a tensor fans out (w is used twice, h feeds two branches).
WRONG_MY_BACKWARD = ("def my_backward(root, order=None):\n"
                     "    pending = {root.grad_fn: xp.ones(root.shape, dtype=root.dtype)}\n"
                     "    leaf_grads = {}\n"
                     "    for node in (order or topo_order)(root.grad_fn):\n"
                     "        grad = pending.pop(node)\n"
                     "        input_grads = node.backward(grad)\n"
                     "        if not isinstance(input_grads, tuple):\n"
                     "            input_grads = (input_grads,)\n"
                     "        for (edge, _), g in zip(node.next_functions, input_grads):\n"
                     "            if edge is None or g is None:\n"
                     "                continue\n"
                     "            if isinstance(edge, AccumulateGrad):\n"
                     "                leaf_grads[edge.variable] = g     # overwrites: no sum\n"
                     "            else:\n"
                     "                pending[edge] = g\n"
                     "    return leaf_grads\n")
# Lab 03, exercise 3: the training loop without optimizer.zero_grad(): every step uses the sum
# of all the gradients so far, and the fit never lands on the least-squares line.
WRONG_TRAIN_LINEAR = ("from tensorweaver import nn, optim\n"
                      "\n"
                      "\n"
                      "def train_linear(x, y, epochs, lr=0.1, batch=32):\n"
                      "    layer = nn.Linear(1, 1)\n"
                      "    optimizer = optim.SGD(layer.parameters(), lr=lr)\n"
                      "    loss_fn = nn.MSELoss()\n"
                      "    n = x.shape[0]\n"
                      "    for epoch in range(epochs):\n"
                      "        order = rng.permutation(n)\n"
                      "        for start in range(0, n, batch):\n"
                      "            idx = tw.tensor(order[start:start + batch])\n"
                      "            loss = loss_fn(layer(x[idx]), y[idx])\n"
                      "            loss.backward()             # no zero_grad(): they pile up\n"
                      "            optimizer.step()\n"
                      "    return layer\n"
                      "\n"
                      "\n"
                      "tw.manual_seed(1)\n"
                      "layer = train_linear(X, Y, EPOCHS, lr=LR, batch=BATCH)\n"
                      "print(f\"nn.Linear + optim.SGD: w = {layer.weight.item():.3f}, "
                      "b = {layer.bias.item():.3f}\")\n")
# Lab 04, exercise 2: logp[:, targets] picks every row's entries for all the batch's labels
# (an (n, n) block), not one entry per row: the loss is the wrong number.
WRONG_CROSS_ENTROPY = ("def cross_entropy(logits, targets):\n"
                       "    logp = logits.log_softmax(dim=1)\n"
                       "    return -logp[:, targets].mean()\n")
# Lab 05, exercise 3: BatchNorm with the unbiased variance (var() divides by n - 1); it
# normalises with the biased one: a 0.25 % difference on the check's 200 values per channel.
WRONG_BATCHNORM = ("def batchnorm_train(x, weight, bias, eps=1e-5):\n"
                   "    mean = x.mean(dim=(0, 2, 3), keepdim=True)\n"
                   "    var = x.var(dim=(0, 2, 3), keepdim=True)\n"
                   "    x_hat = (x - mean) / (var + eps).sqrt()\n"
                   "    return weight.reshape(1, -1, 1, 1) * x_hat + bias.reshape(1, -1, 1, 1)\n")
# Lab 06, exercise 1: attention without the 1/sqrt(d) scale: causal and normalised, but not
# the library's values (the Transformer trained with it still learns).
WRONG_ATTENTION = ("def attention(q, k, v):\n"
                   "    T, d = q.shape[-2], q.shape[-1]\n"
                   "    scores = q @ k.transpose(-2, -1)\n"
                   "    future = tw.ones(T, T).triu(1) > 0\n"
                   "    weights = scores.masked_fill(future, float(\"-inf\")).softmax(dim=-1)\n"
                   "    return weights @ v, weights\n")
# Lab 07, exercise 1: no model.eval() (export switches to eval mode and back): the visible
# check's model is already in eval mode and passes; the hidden tests' model, left in training
# mode with Dropout and BatchNorm, is compared in training mode and fails.
WRONG_EXPORT = ("def export_and_verify(model, inputs, path, batch_sizes=(1, 7, 360)):\n"
                "    tensorweaver.onnx.export(model, inputs[:1], str(path),\n"
                "                             input_names=['input'], output_names=['output'],\n"
                "                             dynamic_axes={'input': {0: 'batch'},\n"
                "                                           'output': {0: 'batch'}})\n"
                "    onnx.checker.check_model(onnx.load(str(path)), full_check=True)\n"
                "    session = ort.InferenceSession(str(path),\n"
                "                                   providers=['CPUExecutionProvider'])\n"
                "    name = session.get_inputs()[0].name\n"
                "    errors = {}\n"
                "    for b in batch_sizes:\n"
                "        x = inputs[:b]\n"
                "        with tw.no_grad():\n"
                "            expected = model(x).numpy()\n"
                "        got = session.run(None, {name: x.numpy()})[0]\n"
                "        errors[b] = float(np.abs(got - expected).max())\n"
                "    return errors\n")
# Lab 08, exercise 2: .item() waits for the backend, but after the clock has stopped: the
# timer measures only the launch of each step.
WRONG_TIME_STEPS = ("def time_steps(one_step, repeats=3):\n"
                    "    one_step().item()\n"
                    "    one_step().item()\n"
                    "    times = []\n"
                    "    for _ in range(repeats):\n"
                    "        t0 = time.perf_counter()\n"
                    "        loss = one_step()\n"
                    "        times.append(time.perf_counter() - t0)\n"
                    "        loss.item()\n"
                    "    return min(times)\n")
# Lab 14, exercise 3: the all-gather adds the received chunk instead of overwriting it (the
# reduce-scatter's step copied): the right traffic, wrong sums.
WRONG_RING_ALLREDUCE = ("def ring_allreduce(buffers, send):\n"
                        "    k = len(buffers)\n"
                        "    result = [np.array(b, copy=True) for b in buffers]\n"
                        "    chunks = [np.array_split(b, k) for b in result]\n"
                        "    for s in range(k - 1):\n"
                        "        for r in range(k):\n"
                        "            c, right = (r - s) % k, (r + 1) % k\n"
                        "            chunks[right][c] += send(r, right, chunks[r][c])\n"
                        "    for s in range(k - 1):\n"
                        "        for r in range(k):\n"
                        "            c, right = (r + 1 - s) % k, (r + 1) % k\n"
                        "            chunks[right][c] += send(r, right, chunks[r][c])\n"
                        "    return result\n")
# Lab 13, exercise 5: TF32 by clearing the low 13 bits only: truncation, not rounding.
WRONG_TF32_ROUNDING = ("def round_to_tf32(a):\n"
                       "    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)\n"
                       "    return (bits & np.uint32(0xFFFFE000)).view(np.float32)\n")

# Lab 15, exercise 5: the determinism test only repeats the prediction, so BatchNorm left in
# training mode (the same output for the same batch) passes; the half-batch comparison is missing.
WRONG_STABLE = ("def prediction_is_stable(predict_fn, model, x):\n"
                "    first = predict_fn(model, x).detach().numpy()\n"
                "    again = predict_fn(model, x).detach().numpy()\n"
                "    return bool(np.allclose(first, again, rtol=1e-5, atol=1e-5))\n")

# Lab 11, exercise 2: the LSTM gates split in the order i, f, o, g (as many papers write
# them) instead of PyTorch's i, f, g, o: a working LSTM, but not nn.LSTM's with its weights.
WRONG_LSTM_CELL = ("def lstm_cell(x, state, w_ih, w_hh, b_ih, b_hh):\n"
                   "    h, c = state\n"
                   "    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh\n"
                   "    i, f, o, g = gates.chunk(4, dim=-1)\n"
                   "    c = f.sigmoid() * c + i.sigmoid() * g.tanh()\n"
                   "    h = o.sigmoid() * c.tanh()\n"
                   "    return h, c\n")

# Lab 09, exercise 4: dropout that zeroes without scaling the survivors by 1 / (1 - p)
# (not "inverted"): every activation's expected value shrinks by 1 - p in training.
WRONG_DROPOUT = ("def dropout(x, p, training=True):\n"
                 "    if not training:\n"
                 "        return x\n"
                 "    keep = (tw.rand_like(x) >= p).to(x.dtype)\n"
                 "    return x * keep\n"
                 "\n"
                 "\n"
                 "class HandDropout(nn.Module):\n"
                 "    def __init__(self, p=0.5):\n"
                 "        super().__init__()\n"
                 "        self.p = p\n"
                 "\n"
                 "    def forward(self, x):\n"
                 "        return dropout(x, self.p, self.training)\n")

# Lab 10 (engine track), piece init: kaiming_uniform_ uses the std as the bound of U(-b, b),
# forgetting the sqrt(3) of a uniform distribution. Engine pieces are regions of the engine's
# modules, not cells: "engine:<module>:<function>" names the region, the source is its new code,
# and the submission carries the engine's own modules with that region replaced.
WRONG_KAIMING_UNIFORM = ("std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))\n"
                         "return uniform_(tensor, -std, std)\n")
# Lab 12 (engine track), piece layer_norm: the backward without the x_hat * mean(dx_hat * x_hat)
# term (the variance's dependence on x): right for the mean, wrong gradients.
WRONG_LAYER_NORM_BACKWARD = ("lead = tuple(range(grad.ndim - len(self.axes)))\n"
                             "gw = (grad * xhat).sum(axis=lead) if need_w else None\n"
                             "gb = grad.sum(axis=lead) if need_b else None\n"
                             "gx = None\n"
                             "if need_x:\n"
                             "    dxhat = grad * weight if weight is not None else grad\n"
                             "    gx = invstd * (dxhat - dxhat.mean(axis=self.axes, keepdims=True))\n"
                             "return gx, gw, gb\n")

# Lab 16, exercise 1: BatchNorm folded without subtracting the running mean from the bias
# (b' = b * s + beta): the weights are right, every output is shifted by s * mean.
WRONG_FOLD = ("def fold_conv_bn(conv, bn):\n"
              "    scale = 1.0 / (bn.running_var + bn.eps).sqrt()\n"
              "    if bn.weight is not None:\n"
              "        scale = scale * bn.weight\n"
              "    bias = conv.bias if conv.bias is not None else tw.zeros(conv.out_channels)\n"
              "    shift = bn.bias if bn.bias is not None else tw.zeros(conv.out_channels)\n"
              "    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,\n"
              "                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups)\n"
              "    with tw.no_grad():\n"
              "        folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))\n"
              "        folded.bias.copy_(bias * scale + shift)\n"
              "    return folded\n")

#: One deliberately wrong submission per lab, graded as student "wrong" (lab 00's is student
#: "hidden", above): {lab: (exercise grade_id, the exercise cell's wrong source, the one CHECK
#: that must fail)}. The rest of the notebook is the solution. Each is a mistake a student
#: makes (a sign, an axis, a missing term), not an exception.
WRONG = {
    "01_tensors": ("exercise-2", WRONG_SOFTMAX, "check-2"),
    "02_autodiff": ("exercise-3", WRONG_MY_BACKWARD, "check-3"),
    "03_linear_regression": ("exercise-3", WRONG_TRAIN_LINEAR, "check-3"),
    "04_mlp": ("exercise-2", WRONG_CROSS_ENTROPY, "check-2"),
    "05_cnn": ("exercise-3", WRONG_BATCHNORM, "check-3"),
    "06_attention": ("exercise-1", WRONG_ATTENTION, "check-1"),
    "07_onnx": ("exercise-1", WRONG_EXPORT, "check-1"),
    "08_gpu": ("exercise-2", WRONG_TIME_STEPS, "check-2"),
    "09_optimization": ("exercise-4", WRONG_DROPOUT, "check-4"),
    "10_engine_optim": ("engine:nn/init.py:kaiming_uniform_", WRONG_KAIMING_UNIFORM, "check-1"),
    "11_sequence_models": ("exercise-2", WRONG_LSTM_CELL, "check-2"),
    "12_engine_layers": ("engine:ops/normalization.py:LayerNorm.backward", WRONG_LAYER_NORM_BACKWARD,
                         "check-1"),
    "13_profiling": ("exercise-5", WRONG_TF32_ROUNDING, "check-5"),
    "14_scale_out": ("exercise-3", WRONG_RING_ALLREDUCE, "check-3"),
    "15_debugging": ("exercise-5", WRONG_STABLE, "check-5"),
    "16_deployment": ("exercise-1", WRONG_FOLD, "check-1"),
}

# The engine-track labs (10, 12: tensorweaver/labs/engine_track.py) are graded on the student's
# engine modules, and their checks' hidden tests run parity cases on cuPyNumeric: they are
# graded where an interpreter has it (this one, $TENSORWEAVER_GPU_PYTHON or the checkout's
# .venv-gpu); elsewhere test_engine_labs_are_graded_where_cupynumeric_is says so (a skip).
from tensorweaver.labs import engine_track  # noqa: E402

if engine_track.parity_python() is None:
    ALL_LABS = [lab for lab in ALL_LABS if not engine_track.is_engine_lab(lab)]
    WRONG = {lab: wrong for lab, wrong in WRONG.items() if not engine_track.is_engine_lab(lab)}


def labs_cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "tensorweaver.labs", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=3600,
                          env=dict(os.environ, **env))


def by_id(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def points(lab) -> dict:
    """{check grade_id: points} of a lab, read from the solved notebook's metadata."""
    nb = nbformat.read(str(LABS / f"{lab}.ipynb"), 4)
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def solved_with(lab, exercise, source):
    nb = nbformat.read(str(LABS / f"{lab}.ipynb"), 4)
    by_id(nb, exercise).source = source
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    rel = tmp / "release"
    proc = labs_cli("release", LABS, "--out", rel)
    assert proc.returncode == 0, proc.stderr[-3000:]
    subs = tmp / "submissions"
    for student in ("blank", "solved", "hidden", "wrong", "half"):
        (subs / student).mkdir(parents=True)
    for lab in ALL_LABS:
        (subs / "blank" / f"{lab}.ipynb").write_bytes((rel / lab / f"{lab}.ipynb").read_bytes())
        # nbgrader's own layout works too
        (subs / "solved" / lab).mkdir()
        (subs / "solved" / lab / f"{lab}.ipynb").write_bytes((LABS / f"{lab}.ipynb").read_bytes())
        engine_track.carry_solutions(subs / "solved" / lab, lab)      # engine labs: engine/ = solutions
    nbformat.write(solved_with("00_environment", "exercise-2", WRONG_ROUNDTRIP),
                   str(subs / "hidden" / "00_environment.ipynb"))
    for lab, (exercise, source, _) in WRONG.items():
        if exercise.startswith("engine:"):       # the solutions, one region of a module replaced
            region = tuple(exercise[len("engine:"):].split(":"))
            engine_track.write_engine(subs / "wrong" / "engine", lab, fill={region: source})
            nbformat.write(nbformat.read(str(LABS / f"{lab}.ipynb"), 4), str(subs / "wrong" / f"{lab}.ipynb"))
            continue
        nbformat.write(solved_with(lab, exercise, source), str(subs / "wrong" / f"{lab}.ipynb"))
    # Half solved: lab 03's first exercise done, the others not; and the student deleted the
    # first CHECK cell and rewrote the second to pass: both are the instructor's again.
    lab = "03_linear_regression"
    nb = nbformat.read(str(rel / lab / f"{lab}.ipynb"), 4)
    solved = nbformat.read(str(LABS / f"{lab}.ipynb"), 4)
    by_id(nb, "exercise-1").source = by_id(solved, "exercise-1").source
    by_id(nb, "check-2").source = "# CHECK: rewritten by the student\npass"
    nb.cells.remove(by_id(nb, "check-1"))
    nbformat.write(nb, str(subs / "half" / f"{lab}.ipynb"))
    out = tmp / "grades"
    # One autograde per lab (--lab), labrun.WORKERS side by side: each is its own nbgrader
    # course with its own gradebook, so nothing is shared but the submissions folder. The
    # short training schedules (the kernels nbgrader starts inherit the variable), as in the
    # labs' other tests: what is graded is the same code.
    runs = run_all({lab: (lambda lab=lab: labs_cli("autograde", subs, "--labs", LABS, "--out", out / lab,
                                                   "--lab", lab, TENSORWEAVER_LAB_QUICK="1"))
                    for lab in ALL_LABS})
    grades, checks = {}, {}
    for lab in ALL_LABS:
        proc = result_of(runs, lab)
        assert proc.returncode == 0, (lab, proc.stderr[-4000:])
        grades.update(grading.read_grades(out / lab / "grades.csv"))
        checks.update(grading.read_checks(out / lab / "checks.csv"))
    return grades, checks


def student_checks(checks, student, lab) -> dict:
    return {check: row for (s, a, check), row in checks.items() if (s, a) == (student, lab)}


def test_blank_submission_scores_zero_on_every_exercise(graded):
    grades, checks = graded
    for lab in ALL_LABS:
        rows = student_checks(checks, "blank", lab)
        assert {c: row[1] for c, row in rows.items()} == points(lab), lab
        failed = {c: (score, error) for c, (score, _, error) in rows.items() if score != 0 or not error}
        assert not failed, (lab, failed)
        assert grades[("blank", lab)] == (0.0, float(sum(points(lab).values()))), lab


def test_solutions_score_full_points(graded):
    grades, checks = graded
    for lab in ALL_LABS:
        rows = student_checks(checks, "solved", lab)
        lost = {c: row for c, row in rows.items() if row[0] != row[1] or row[2]}
        assert rows and not lost, (lab, lost)
        assert grades[("solved", lab)] == (float(sum(points(lab).values())),) * 2, lab


def test_engine_labs_are_graded_where_cupynumeric_is():
    if engine_track.parity_python() is None:
        pytest.skip(f"the engine-track labs are not graded here: {engine_track.WHERE_TO_GRADE}")
    assert all(lab in ALL_LABS for lab in engine_track.ASSIGNMENTS)


def test_every_lab_has_a_wrong_submission():
    assert sorted(WRONG) == [lab for lab in ALL_LABS if lab != "00_environment"]


@pytest.mark.parametrize("student, lab, check",
                         [("hidden", "00_environment", "check-2")]
                         + [("wrong", lab, check) for lab, (_, _, check) in sorted(WRONG.items())],
                         ids=lambda v: v if isinstance(v, str) and v[:2].isdigit() else None)
def test_a_wrong_answer_loses_exactly_its_exercises_points(graded, student, lab, check):
    grades, checks = graded
    rows = student_checks(checks, student, lab)
    failing = {c for c, (score, max_score, _) in rows.items() if score < max_score}
    assert failing == {check}, rows
    score, max_score, error = rows[check]
    assert score == 0 and max_score == points(lab)[check]
    assert error.startswith(("AssertionError", "FloatingPointError")), error
    total = float(sum(points(lab).values()))
    assert grades[(student, lab)] == (total - points(lab)[check], total)


def test_the_instructors_checks_are_restored(graded):
    grades, checks = graded
    lab = "03_linear_regression"
    rows = student_checks(checks, "half", lab)
    # The deleted check came back and passed; the rewritten one is the instructor's and fails.
    assert rows["check-1"][0] == rows["check-1"][1] == points(lab)["check-1"]
    assert rows["check-2"][0] == 0 and rows["check-3"][0] == 0, rows
    assert grades[("half", lab)] == (float(points(lab)["check-1"]), float(sum(points(lab).values())))
    # Not submitted: no score (graded one lab per course here; make autograde's one course
    # lists such a lab with 0).
    assert grades.get(("half", "00_environment"), (0.0,))[0] == 0


def test_no_submissions_is_a_clear_error(tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    proc = labs_cli("autograde", tmp_path / "subs", "--labs", LABS, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "no submissions in" in proc.stderr
    proc = labs_cli("autograde", tmp_path / "missing", "--labs", LABS, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "no submissions folder" in proc.stderr
