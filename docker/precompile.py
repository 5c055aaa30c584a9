"""Precompile the bytecode of what a lab session runs, and only that (run once, at build time).

pip installs the packages with --no-compile: bytecode for every module of every package would
add about 100 MB to the image, mostly for code a lab never runs (thousands of scipy and
scikit-learn modules). Instead this script, run as root during `docker build`, does what a
session does: it imports what `jupyter lab` loads and executes a notebook cell in a real
kernel that imports the libraries the labs use. Python writes the .pyc of every module
imported along the way next to its source. Any other module still works, compiled in
memory when first imported (the container user cannot write to site-packages).

Usage: python precompile.py       (exits non-zero if the server or kernel cannot start)
"""
import importlib
import os
import shutil
import tempfile

# What `jupyter lab` imports: the server, JupyterLab and the server extensions it enables.
SERVER_MODULES = [
    "jupyterlab.labapp",
    "jupyter_server.serverapp",
    "jupyter_server.services.kernels.kernelmanager",
    "jupyter_server.services.contents.largefilemanager",
    "jupyter_server_terminals",
    "jupyter_lsp",
    "notebook_shim",
    "nbclient",
    "nbformat",
]

# What a lab notebook imports, run in a kernel (which compiles ipykernel and IPython too).
KERNEL_CELL = """
import numpy, scipy.special, tqdm.auto
import matplotlib
import matplotlib.pyplot as plt
import sklearn.datasets, sklearn.model_selection, sklearn.preprocessing
import onnx, onnx.helper, onnx.checker, onnxruntime
import pytest
%matplotlib inline
plt.plot([0, 1])
plt.show()
"""


def main() -> None:
    home = tempfile.mkdtemp()
    # Keep every file the kernel or matplotlib writes out of the image's home directory.
    os.environ.update(HOME=home, IPYTHONDIR=os.path.join(home, ".ipython"),
                      MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
                      JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"))
    try:
        for name in SERVER_MODULES:
            importlib.import_module(name)

        import nbformat
        from nbclient import NotebookClient

        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(KERNEL_CELL)])
        NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
