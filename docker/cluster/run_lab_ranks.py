"""Run a lab notebook as one multi-rank Legate program; rank 0 writes the results.

    legate --launcher srun --nodes 2 --ranks-per-node 1 --gpus 4 \\
        run_lab_ranks.py labs/04_mlp.ipynb --backend cupynumeric \\
        --output out/04_mlp.executed.ipynb --metrics out/04_mlp.metrics.json

A Jupyter kernel is one process, while a multi-rank Legate program is N processes (ranks) that
all run the same Python code: Legate replicates the control flow and shards the arrays across
the ranks. So the headless runner (``python -m tensorweaver.labs run``), which executes a
notebook in a kernel subprocess, cannot span nodes. This script executes the notebook's code
cells *in this process* instead, in an in-process IPython shell (magics, ``display()`` and
the last expression's value behave as in a kernel). Every rank executes every cell; rank 0
captures the outputs and writes the executed notebook and the metrics JSON, in the same
format as the headless runner.

``--check-networking N`` only checks, without starting Legate, that this Legate build can
run N ranks (the PyPI wheels are built without networking, so they run one rank only).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
import time
from pathlib import Path

RANK_VARIABLES = ("LEGATE_GLOBAL_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID")


def global_rank() -> int:
    """This process's rank: Legate's bind script exports LEGATE_GLOBAL_RANK; launchers too."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def legate_networks() -> list:
    """The networks this Legate was built with, read without importing (and starting) it."""
    import importlib.util

    spec = importlib.util.find_spec("legate")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("legate is not installed in this Python; install nvidia-cupynumeric")
    namespace = {}
    info = Path(list(spec.submodule_search_locations)[0]) / "install_info.py"
    source = "\n".join(line for line in info.read_text().splitlines() if line.startswith("networks"))
    exec(source, namespace)       # one generated line: networks: list[str] = str("...").split()
    return list(namespace.get("networks", []))


def check_networking(ranks: int) -> int:
    networks = legate_networks()
    if ranks > 1 and not networks:
        print(f"tensorweaver job: error: {ranks} Legate ranks were asked for, but this Legate "
              "build has no networking (its install_info lists no network), so it can run one "
              "rank only. The PyPI wheels of legate/nvidia-cupynumeric are built that way. Use "
              "one rank per job (NODES=1 RANKS_PER_NODE=1, all GPUs in that rank), or install a "
              "Legate built with UCX or GASNet networking (the packages of the `legate` conda "
              "channel, or a source build) in the image or venv.", file=sys.stderr)
        return 2
    print(f"legate networks: {', '.join(networks) or 'none'}; {ranks} rank(s) ok")
    return 0


# =========================================================================== the shell
def make_shell():
    """An in-process IPython shell whose outputs are captured per cell, as a kernel's are."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.interactiveshell import InteractiveShell

    class CapturingDisplayHook(DisplayHook):
        """Keeps the last expression's formatted value (an execute_result), prints nothing."""

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self.shell.cell_outputs.append(("execute_result", format_dict, md_dict or {}))

    class LabShell(InteractiveShell):
        displayhook_class = CapturingDisplayHook
        cell_outputs: list = []
        last_error = None

        def enable_gui(self, gui=None):
            pass                               # inline figures need no GUI event loop

        def _showtraceback(self, etype, evalue, stb):
            # A kernel sends the traceback as an error output instead of printing it.
            self.last_error = (etype.__name__, str(evalue), stb)

    shell = LabShell.instance(colors="nocolor")
    try:
        shell.enable_matplotlib("inline")     # figures become display outputs, as in a kernel
    except Exception:                          # noqa: BLE001 - no matplotlib: nothing to show
        pass
    return shell


def _plain_data(data: dict) -> dict:
    """A JSON-ready MIME bundle (PNG and other bytes as base64, as a kernel sends them)."""
    return {mime: base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
            for mime, value in data.items()}


def execute(nb, shell, echo):
    """Run every code cell of ``nb`` in ``shell``, filling in outputs; stop at the first error.

    Returns (errors, cell_times) like the headless runner. ``echo`` prints each cell's
    captured text as it finishes (rank 0 only), so the Slurm log shows progress.
    """
    from IPython.utils.capture import capture_output
    from nbformat import v4

    from tensorweaver.labs.runner import CellError, _first_line

    errors, times, count = [], {}, 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        count += 1
        shell.cell_outputs, shell.last_error = [], None
        t0 = time.perf_counter()
        with capture_output(display=True) as captured:
            shell.run_cell(cell.source, store_history=True)
        times[index] = time.perf_counter() - t0
        outputs = []
        for name, text in (("stdout", captured.stdout), ("stderr", captured.stderr)):
            if text:
                outputs.append(v4.new_output("stream", name=name, text=text))
                if echo:
                    print(text, end="", file=sys.stdout if name == "stdout" else sys.stderr)
        for rich in captured.outputs:
            outputs.append(v4.new_output("display_data", data=_plain_data(rich.data),
                                         metadata=rich.metadata or {}))
        for _, data, metadata in shell.cell_outputs:
            outputs.append(v4.new_output("execute_result", data=_plain_data(data),
                                         metadata=metadata, execution_count=count))
        if shell.last_error:
            ename, evalue, stb = shell.last_error
            outputs.append(v4.new_output("error", ename=ename, evalue=evalue, traceback=stb))
            errors.append(CellError(index, _first_line(cell.source), ename, evalue, "\n".join(stb)))
        cell.outputs, cell.execution_count = outputs, count
        if errors:
            break
    return errors, times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebook", nargs="?")
    parser.add_argument("--backend", default="cupynumeric", help="numpy or cupynumeric")
    parser.add_argument("--output", help="where rank 0 writes the executed notebook")
    parser.add_argument("--metrics", help="where rank 0 writes the metrics JSON")
    parser.add_argument("--quick", action="store_true", help="short training schedules")
    parser.add_argument("--check-networking", type=int, metavar="RANKS",
                        help="only check that this Legate build can run RANKS ranks")
    args = parser.parse_args(argv)
    if args.check_networking is not None:
        return check_networking(args.check_networking)
    if not args.notebook:
        parser.error("a notebook is required")

    path = Path(args.notebook).resolve()
    if not path.is_file():
        raise SystemExit(f"no notebook at {args.notebook}")
    rank = global_rank()
    # Before the first `import tensorweaver`: the backend is chosen once per process, when it
    # is imported, and record() and quick() read these (see tensorweaver.labs.record).
    fd, metrics_tmp = tempfile.mkstemp(prefix=f"tw-lab-rank{rank}-", suffix=".json")
    os.close(fd)
    os.environ.update({"TENSORWEAVER_BACKEND": args.backend, "TENSORWEAVER_LAB_METRICS": metrics_tmp})
    if args.quick:
        os.environ["TENSORWEAVER_LAB_QUICK"] = "1"
    else:
        os.environ.pop("TENSORWEAVER_LAB_QUICK", None)

    from tensorweaver import backend as tw_backend
    from tensorweaver.labs.runner import RunResult

    backend = tw_backend.name
    os.chdir(path.parent)                   # labs read data/ relative to themselves
    sys.path.insert(0, str(path.parent))

    import nbformat

    nb = nbformat.read(path, as_version=4)
    shell = make_shell()
    t0 = time.perf_counter()
    errors, times = execute(nb, shell, echo=rank == 0)
    wall = time.perf_counter() - t0

    text = Path(metrics_tmp).read_text()
    Path(metrics_tmp).unlink(missing_ok=True)
    if rank != 0:
        return 1 if errors else 0
    result = RunResult(notebook=args.notebook, backend=backend, quick=args.quick,
                       status="failed" if errors else "ok", wall_time_s=wall,
                       metrics=json.loads(text) if text.strip() else {}, errors=errors,
                       cell_times_s=times)
    report = result.to_json()
    report["ranks"] = int(os.environ.get("SLURM_STEP_NUM_TASKS")
                          or os.environ.get("OMPI_COMM_WORLD_SIZE") or os.environ.get("PMI_SIZE") or 1)
    report["legate_config"] = os.environ.get("LEGATE_CONFIG", "")
    for target, content in ((args.output, nbformat.writes(nb) + "\n"),
                            (args.metrics, json.dumps(report, indent=1) + "\n")):
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(content)
    name = path.name
    if errors:
        print(f"{name} [{backend}, {report['ranks']} rank(s)] FAILED at {errors[0].describe()}",
              file=sys.stderr)
        return 1
    print(f"{name} [{backend}, {report['ranks']} rank(s)] ok in {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
