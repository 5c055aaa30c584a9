"""The engine track's manifest: which pieces of the real engine students write, per assignment.

Labs 10 and 12 ("Build the engine") are nbgrader assignments whose exercises are regions of
the engine's own modules, marked ``### BEGIN SOLUTION`` / ``### END SOLUTION``. For each
piece this lists:

- ``regions``: (module path under ``tensorweaver/``, qualified name of the function holding
  the region). The student copy of that module has the region replaced by
  ``raise NotImplementedError(...)`` (``tensorweaver/labs/engine_track.py`` writes it);
- ``tests``: the project's tests that grade the piece, in groups (pytest arguments, points).
  The piece's CHECK cell is worth the sum of its groups' points and passes when every group
  passes (nbgrader grades a cell all or nothing); the failing tests are named. The
  torch-oracle tests are not in the groups: PyTorch's answers are stored instead
  (``tests/test_engine_pieces.py``), so grading is the same with and without PyTorch, and
  no grading run pays PyTorch's import (15 s on a busy machine, per piece). The groups
  run with only this piece's modules taken from the student's engine, so a piece is graded
  on its own even when another one is unwritten (``nn.Linear`` needs ``kaiming_uniform_``);
- ``parity``: a ``-k`` selection of ``tests/parity/test_parity.py``: cuPyNumeric against
  NumPy on the student's modules (the CHECK's hidden tests).

Plain data: the import seam (``tensorweaver/_student_engine.py``) reads ``MODULES`` from
here when a student engine is in use, and the build checks the notebooks against it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestGroup:
    what: str           # what the group checks, in a few words
    points: int
    args: tuple         # pytest arguments: test files, then "-k", expression


@dataclass(frozen=True)
class Piece:
    name: str           # the piece's id: the notebook's `# ENGINE PIECE: name` cell
    title: str
    regions: tuple      # ((module path, qualified name of the function), ...)
    tests: tuple        # TestGroup, ...
    parity: str         # -k expression over tests/parity/test_parity.py

    @property
    def points(self) -> int:
        return sum(group.points for group in self.tests)

    @property
    def modules(self) -> tuple:
        return tuple(sorted({path for path, _ in self.regions}))


PIECES_TEST = "tests/test_engine_pieces.py"

INIT = Piece(
    "init", "Xavier and Kaiming initialisation",
    (("nn/init.py", "calculate_gain"), ("nn/init.py", "_calculate_fan_in_and_fan_out"),
     ("nn/init.py", "xavier_uniform_"), ("nn/init.py", "xavier_normal_"),
     ("nn/init.py", "kaiming_uniform_"), ("nn/init.py", "kaiming_normal_")),
    (TestGroup("torch's bounds, stds, gains and fans (stored)", 3, (PIECES_TEST, "-k", "init")),),
    "(nn.Linear.train or nn.Conv2d.train) and float32",
)
SGD = Piece(
    "sgd", "SGD with momentum, dampening, Nesterov and weight decay",
    (("optim/sgd.py", "SGD.step"),),
    (TestGroup("torch's trajectories (stored)", 3, (PIECES_TEST, "-k", "sgd")),
     TestGroup("the optimizer contract", 1, ("tests/test_optim.py", "-k", "SGD"))),
    "(optim.SGD_momentum_nesterov_decay or optim.SGD_dampening_maximize) and float32",
)
ADAM = Piece(
    "adam", "Adam (AMSGrad, L2 and decoupled weight decay)",
    (("optim/adam.py", "Adam.step"),),
    (TestGroup("torch's trajectories (stored)", 3, (PIECES_TEST, "-k", "adam")),
     TestGroup("the optimizer contract", 1, ("tests/test_optim.py", "-k", "Adam"))),
    "(optim.Adam_amsgrad_decay or optim.AdamW) and float32",
)
DROPOUT = Piece(
    "dropout", "Dropout: the host-drawn mask, forward and backward",
    (("ops/dropout.py", "keep_mask"), ("ops/dropout.py", "Dropout.forward"),
     ("ops/dropout.py", "Dropout.backward")),
    (TestGroup("torch's outputs and gradients for the host mask (stored), gradcheck", 2,
               (PIECES_TEST, "-k", "dropout")),
     TestGroup("gradcheck and the seeded generator", 1,
               ("tests/test_nn_gradcheck.py", "tests/test_generator.py", "-k", "dropout"))),
    "(nn.Dropout.train or nn.Dropout2d.train) and float32",
)
LAYER_NORM = Piece(
    "layer_norm", "LayerNorm backward",
    (("ops/normalization.py", "LayerNorm.backward"),),
    (TestGroup("torch's gradients (stored), gradcheck", 2, (PIECES_TEST, "-k", "layer_norm")),
     TestGroup("gradcheck", 1, ("tests/test_nn_gradcheck.py", "-k", "layer_norm"))),
    "(nn.LayerNorm.train or nn.LayerNorm_2d_shape.train) and float32",
)
BATCH_NORM = Piece(
    "batch_norm", "BatchNorm backward (batch statistics and running statistics)",
    (("ops/normalization.py", "BatchNorm.backward"),),
    (TestGroup("torch's gradients (stored), gradcheck", 2, (PIECES_TEST, "-k", "batch_norm")),
     TestGroup("gradcheck", 1, ("tests/test_nn_gradcheck.py", "-k", "batch_norm"))),
    "(nn.BatchNorm2d.train or nn.BatchNorm1d.train) and float32",
)
MAX_POOL = Piece(
    "max_pool", "Max-pool backward",
    (("ops/pooling.py", "MaxPool2d.backward"),),
    (TestGroup("torch's gradients (stored), ties, gradcheck", 2, (PIECES_TEST, "-k", "max_pool")),
     TestGroup("gradcheck", 1, ("tests/test_nn_gradcheck.py", "-k", "max_pool2d"))),
    "(nn.MaxPool2d.train or nn.MaxPool2d_stride_pad_ceil.train) and float32",
)
AVG_POOL = Piece(
    "avg_pool", "Average-pool backward",
    (("ops/pooling.py", "AvgPool2d.backward"),),
    (TestGroup("torch's gradients (stored), gradcheck", 1, (PIECES_TEST, "-k", "avg_pool")),
     TestGroup("gradcheck", 1, ("tests/test_nn_gradcheck.py", "-k", "avg_pool2d and not adaptive"))),
    "(nn.AvgPool2d.train or nn.AvgPool2d_pad_exclude.train) and float32",
)
CONV2D = Piece(
    "conv2d", "Conv2d backward: col2im",
    (("ops/conv.py", "Conv2d.backward"),),
    (TestGroup("torch's gradients (stored), gradcheck", 2, (PIECES_TEST, "-k", "conv2d")),
     TestGroup("gradcheck (strides, padding, dilation, groups)", 2,
               ("tests/test_nn_gradcheck.py", "-k", "conv2d"))),
    "(nn.Conv2d.train or nn.Conv2d_stride_pad_dilation.train) and float32",
)

#: assignment (lab stem) -> its pieces, in the notebook's order.
ASSIGNMENTS = {
    "10_engine_optim": (INIT, SGD, ADAM, DROPOUT),
    "12_engine_layers": (LAYER_NORM, BATCH_NORM, MAX_POOL, AVG_POOL, CONV2D),
}

PIECES = {piece.name: piece for pieces in ASSIGNMENTS.values() for piece in pieces}

#: Every module a student engine may replace, as a path under tensorweaver/.
MODULES = tuple(sorted({path for piece in PIECES.values() for path in piece.modules}))


def assignment_of(piece_name: str) -> str:
    return next(a for a, pieces in ASSIGNMENTS.items() if any(p.name == piece_name for p in pieces))
