"""DataLoader workers under a cuPyNumeric main process: the workers compute with NumPy
and never import Legate, and the batches arrive as cuPyNumeric arrays (Legate CPU mode
is enough; run with ``make test-gpu-local PYTEST_ARGS="-k dataloader_workers"``)."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.parity
TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import tensorweaver as tw
    from tensorweaver.utils.data import DataLoader
    from data_more_helpers import Structured, WhereAmI

    if __name__ == "__main__":
        rows = []
        for b in DataLoader(WhereAmI(), batch_size=4, num_workers=2):
            rows.append({"env": b["env"], "numpy_backend": b["numpy_backend"].tolist(),
                         "legate_imported": b["legate_imported"].tolist(), "index": b["index"].tolist(),
                         "array_module": type(b["index"].data).__module__})
        image = next(iter(DataLoader(Structured(4), batch_size=2, num_workers=2)))["image"]
        print(json.dumps({"main_is_numpy": tw.backend.is_numpy, "rows": rows,
                          "image_module": type(image.data).__module__, "image_sum": float(image.sum().item())}))
""")


@pytest.mark.skipif(importlib.util.find_spec("cupynumeric") is None,
                    reason="needs cuPyNumeric (the parity suite's .venv-gpu)")
def test_dataloader_workers_stay_on_numpy_under_cupynumeric(tmp_path):
    script = tmp_path / "workers.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, TENSORWEAVER_BACKEND="cupynumeric")
    out = subprocess.run([sys.executable, str(script), str(TESTS)], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["main_is_numpy"] is False
    rows = result["rows"]
    assert [i for r in rows for i in r["index"]] == list(range(8))
    assert all(e == "numpy" for r in rows for e in r["env"])
    assert all(r["numpy_backend"] == [True] * len(r["index"]) for r in rows)
    assert not any(flag for r in rows for flag in r["legate_imported"])
    assert all(r["array_module"].startswith("cupynumeric") for r in rows)
    assert result["image_module"].startswith("cupynumeric") and result["image_sum"] == 6.0
