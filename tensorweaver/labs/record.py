"""Inside a lab: ``record()`` the results and ask ``quick()`` for a short schedule.

    from tensorweaver.labs import record, quick
    EPOCHS = 3 if quick() else 20          # --quick shortens training, never changes code
    ...
    record(final_loss=loss.item(), accuracy=acc)
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

#: Set by the runner in the kernel's environment: where ``record()`` writes.
METRICS_ENV = "TENSORWEAVER_LAB_METRICS"
#: Set to 1 by ``run --quick``: labs train for fewer epochs (same code, shorter schedule).
QUICK_ENV = "TENSORWEAVER_LAB_QUICK"


def quick() -> bool:
    """True when the runner was asked for a short run (``--quick``, or TENSORWEAVER_LAB_QUICK=1).

    Labs use it to pick the number of epochs or steps only; the code is the same.
    """
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _plain(value):
    """A JSON-ready copy of ``value``: tensors and NumPy values become Python numbers/lists."""
    if hasattr(value, "detach") and hasattr(value, "numel"):      # a Tensor
        value = value.detach().numpy()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # NumPy array/scalar
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)            # "nan" / "inf": strict JSON has no NaN
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"record(): cannot store a {type(value).__name__} ({value!r}) as a metric; "
                    "pass numbers, strings, lists or dicts of them, or tensors")


def record(**metrics) -> None:
    """Record a lab's results (final loss, accuracy, ...) for the headless runner.

    They are printed, and under the runner also merged into the JSON file named by
    ``TENSORWEAVER_LAB_METRICS`` (run interactively, nothing is written).
    """
    clean = {name: _plain(v) for name, v in metrics.items()}
    print("recorded:", ", ".join(f"{k}={_short(v)}" for k, v in clean.items()))
    path = os.environ.get(METRICS_ENV)
    if not path:
        return
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
    data.update(clean)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)      # atomic: the runner never reads a half-written file


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and len(value) > 4:
        return f"[{len(value)} values]"
    return str(value)
