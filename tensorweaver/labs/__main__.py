"""Command line of the lab tooling: ``python -m tensorweaver.labs COMMAND --help``.

    run        execute a lab headless on a backend (tensorweaver.labs.runner)
    build      regenerate labs/*.ipynb from labs/src/*.py with jupytext (make labs-build)
    release    student versions through nbgrader generate_assignment (make release)
    autograde  grade submissions with nbgrader, write grades.csv and checks.csv (make autograde)
    workspace  create or update a student workspace from a release (make workspace)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROG = "python -m tensorweaver.labs"


def _run_command(args) -> int:
    from tensorweaver.labs.runner import BACKEND_ENV, run_notebook

    if "legate" in sys.modules:
        # `import tensorweaver` (run by `python -m tensorweaver.labs`) already started Legate
        # in this process, which computes nothing: the kernel is where the lab runs.
        print(f"{PROG}: note: this runner process started Legate too, because "
              f"{BACKEND_ENV}={os.environ.get(BACKEND_ENV)} is set in its environment; it "
              "computes nothing, so start it with "
              f"{BACKEND_ENV}=numpy (the kernel still gets --backend) to leave the GPUs "
              "and cores to the kernel.", file=sys.stderr)
    output = Path(args.output) if args.output else None
    metrics = Path(args.metrics) if args.metrics else (output.with_suffix(".json") if output else None)
    result = run_notebook(args.notebook, args.backend, output, metrics, quick_run=args.quick,
                          allow_errors=args.allow_errors, timeout=args.timeout)
    name = Path(args.notebook).name
    where = f" -> {output}" if output else ""
    if result.errors:
        first = result.errors[0]
        print(f"{name} [{result.backend}] FAILED at {first.describe()}{where}", file=sys.stderr)
        tail = "\n".join(first.traceback.strip().splitlines()[-12:])
        if tail:
            print(tail, file=sys.stderr)
        return 0 if args.allow_errors else 1
    shown = ", ".join(f"{k}={v}" for k, v in result.metrics.items() if not isinstance(v, (list, dict)))
    print(f"{name} [{result.backend}{', quick' if result.quick else ''}] ok in "
          f"{result.wall_time_s:.1f} s{where}" + (f"; {shown}" if shown else ""))
    return 0


def _only(args):
    return set(args.lab) if args.lab else None


def _workspace_command(args) -> int:
    import tempfile

    from tensorweaver.labs import grading, workspace

    release_dir = args.release or os.environ.get("TENSORWEAVER_RELEASE")
    with tempfile.TemporaryDirectory(prefix="tw-release-") as tmp:
        if not release_dir:                      # no release given: make one from the labs
            grading.release(args.labs, tmp)
            release_dir = tmp
        notes = workspace.sync(release_dir, args.workspace)
    for note in notes:
        print(f"tensorweaver: notice: workspace: {note}")
    if not notes:
        print(f"tensorweaver: workspace {args.workspace} is up to date")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="The TensorWeaver labs' tooling.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute a lab notebook headless on a backend")
    run.add_argument("notebook")
    run.add_argument("--backend", default=None,
                     help="numpy or cupynumeric (default: $TENSORWEAVER_BACKEND, else numpy)")
    run.add_argument("--output", "-o", help="where to write the executed notebook")
    run.add_argument("--metrics", help="where to write the metrics JSON "
                     "(default: the --output path with .json)")
    run.add_argument("--quick", action="store_true",
                     help="short training schedules (sets TENSORWEAVER_LAB_QUICK=1 in the kernel)")
    run.add_argument("--allow-errors", action="store_true",
                     help="run every cell even after errors; list them all, exit 0")
    run.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")

    build = sub.add_parser("build", help="regenerate the .ipynb notebooks from labs/src/*.py (jupytext)")
    build.add_argument("src_dir", nargs="?", default="labs/src")
    build.add_argument("--out", default=None, help="folder for the notebooks (default: src/..)")

    release = sub.add_parser("release", help="student versions of the labs (nbgrader generate_assignment)")
    release.add_argument("labs_dir", nargs="?", default="labs")
    release.add_argument("--out", required=True, help="release folder: one <lab>/ folder per lab")
    release.add_argument("--lab", action="append", help="only this lab (NN_name; repeatable)")

    grade = sub.add_parser("autograde", help="autograde submissions (nbgrader); write grades.csv")
    grade.add_argument("submissions", help="one folder per student, holding NN_name.ipynb files")
    grade.add_argument("--labs", default="labs", help="the solved labs (default: labs)")
    grade.add_argument("--out", required=True, help="folder for grades.csv and the course")
    grade.add_argument("--lab", action="append", help="only this lab (NN_name; repeatable)")

    ws = sub.add_parser("workspace", help="create or update a student workspace (never overwrites)")
    ws.add_argument("workspace")
    ws.add_argument("--release", help="release folder (default: $TENSORWEAVER_RELEASE, "
                    "else one is made from --labs)")
    ws.add_argument("--labs", default="labs", help="the solved labs, when there is no release")

    args = parser.parse_args(argv)
    from tensorweaver.labs.build import build_labs
    from tensorweaver.labs.grading import GradingError, autograde, release as do_release

    try:
        if args.command == "run":
            return _run_command(args)
        if args.command == "workspace":
            return _workspace_command(args)
        if args.command == "build":
            written = build_labs(args.src_dir, args.out or str(Path(args.src_dir).parent))
        elif args.command == "release":
            written = do_release(args.labs_dir, args.out, _only(args))
        else:
            grades = autograde(args.labs, args.submissions, args.out, _only(args))
            written = [grades, grades.with_name("checks.csv")]
    except (ValueError, FileNotFoundError) as exc:      # bad input: a message, not a traceback
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except GradingError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
