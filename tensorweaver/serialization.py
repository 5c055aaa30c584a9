"""``tw.save`` / ``tw.load``: checkpoints without pickle.

A checkpoint is a NumPy ``.npz`` archive (a zip file). Every tensor or array in the
saved object becomes one ``.npy`` member (``a0``, ``a1``, ...), and the structure
around them (dicts, lists, tuples, numbers, strings, bools, None) is a JSON document
stored as the member ``__tensorweaver__``, tagged with a format name and version::

    {"format": "tensorweaver", "version": 1,
     "tree": {"$dict": [["fc.weight", {"$tensor": "a0", "requires_grad": false}], ...]}}

Loading uses ``numpy.load(allow_pickle=False)`` and ``json``, so opening a file can
never run code. Dtypes, shapes, dict order and int dict keys (optimizer state) are
kept exactly.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np

from tensorweaver import backend
from tensorweaver.tensor import Tensor, check_device, _make_tensor

FORMAT = "tensorweaver"
VERSION = 1
_HEADER = "__tensorweaver__"


class SerializationError(RuntimeError):
    """A checkpoint cannot be written or read (unsupported object, corrupt or foreign file)."""


def _describe(f) -> str:
    if isinstance(f, (str, os.PathLike)):
        return repr(os.fspath(f))
    return f"file object {getattr(f, 'name', type(f).__name__)!r}"


# ---------------------------------------------------------------- encoding
class _Encoder:
    def __init__(self):
        self.arrays = {}
        self.memo = {}              # id(tensor) -> node, so a tensor saved twice loads as one object

    def _add_array(self, host):
        name = f"a{len(self.arrays)}"
        self.arrays[name] = host
        return name

    def encode(self, obj, path):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"$float": repr(obj)}
        if isinstance(obj, Tensor):
            key = id(obj)
            if key not in self.memo:
                from tensorweaver.nn.parameter import Parameter

                node = {"$tensor": self._add_array(backend.to_host(obj.data)), "requires_grad": obj.requires_grad}
                if isinstance(obj, Parameter):
                    node["parameter"] = True
                self.memo[key] = (node, obj)     # keep obj alive so its id stays unique
            return self.memo[key][0]
        if isinstance(obj, np.ndarray):
            self._check_dtype(obj.dtype, path)
            return {"$ndarray": self._add_array(obj)}
        if isinstance(obj, np.generic):
            self._check_dtype(obj.dtype, path)
            return {"$scalar": self._add_array(np.asarray(obj))}
        if isinstance(obj, tuple):
            return {"$tuple": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            tag = "$odict" if isinstance(obj, OrderedDict) else "$dict"
            items = []
            for k, v in obj.items():
                if not (k is None or isinstance(k, (str, int, float, bool, tuple))):
                    raise SerializationError(f"{path}: dict key {k!r} of type {type(k).__name__} cannot be saved; "
                                             "keys must be strings, numbers, bools, None or tuples")
                items.append([self.encode(k, f"{path} key"), self.encode(v, f"{path}[{k!r}]")])
            return {tag: items}
        raise SerializationError(
            f"{path}: cannot save an object of type {type(obj).__name__}. tw.save stores tensors, NumPy arrays, "
            "numbers, strings, bools, None, and lists/tuples/dicts of them (it never pickles, so loading can't "
            "run code); convert the object to those types first (e.g. a state_dict()).")

    @staticmethod
    def _check_dtype(dtype, path):
        if dtype.hasobject or dtype.kind not in "biufc":
            raise SerializationError(f"{path}: arrays of dtype {dtype} cannot be saved (numeric and bool only)")


def save(obj, f) -> None:
    """Save ``obj`` (e.g. ``model.state_dict()``, ``optimizer.state_dict()``, or a dict of
    them plus numbers and strings) to ``f``, a path or a writable binary file object.

    Writing to a path goes through a temporary file in the same folder, replaced
    atomically, so an interrupted save never leaves a half-written checkpoint.
    """
    enc = _Encoder()
    tree = enc.encode(obj, "obj")
    header = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}, allow_nan=False)
    members = {_HEADER: np.frombuffer(header.encode("utf-8"), dtype=np.uint8)}
    members.update(enc.arrays)
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".tw-save-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **members)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    else:
        np.savez(f, **members)


# ---------------------------------------------------------------- decoding
class _Decoder:
    def __init__(self, archive, where):
        self.archive, self.where = archive, where
        self.tensors = {}

    def array(self, name):
        if name not in self.archive.files:
            raise SerializationError(f"{self.where}: the checkpoint is corrupt: its structure refers to array "
                                     f"{name!r}, which the file does not contain")
        return self.archive[name]

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) < 1:
            raise SerializationError(f"{self.where}: the checkpoint is corrupt: unexpected node {node!r}")
        if "$tensor" in node:
            name = node["$tensor"]
            if name not in self.tensors:
                data = backend.from_host(self.array(name))
                if node.get("parameter"):
                    from tensorweaver.nn.parameter import Parameter

                    t = Parameter(data, requires_grad=bool(node.get("requires_grad", True)))
                else:
                    t = _make_tensor(data, False, None)
                    if node.get("requires_grad"):
                        t.requires_grad_(True)
                self.tensors[name] = t
            return self.tensors[name]
        if "$ndarray" in node:
            return self.array(node["$ndarray"])
        if "$scalar" in node:
            return self.array(node["$scalar"])[()]
        if "$float" in node:
            return float(node["$float"])
        if "$tuple" in node:
            return tuple(self.decode(v) for v in node["$tuple"])
        if "$dict" in node or "$odict" in node:
            items = node.get("$dict", node.get("$odict"))
            pairs = ((self.decode(k), self.decode(v)) for k, v in items)
            return OrderedDict(pairs) if "$odict" in node else dict(pairs)
        raise SerializationError(f"{self.where}: the checkpoint is corrupt: unknown node type {sorted(node)}")


def _open_archive(f, where):
    if isinstance(f, (str, os.PathLike)) and not os.path.exists(f):
        raise FileNotFoundError(f"tw.load: no such file: {where}")
    try:
        archive = np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise SerializationError(f"tw.load: {where} is not a tensorweaver checkpoint (not a readable .npz "
                                 f"archive: {exc}). Files are written by tw.save.") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise SerializationError(f"tw.load: {where} is a single NumPy array (.npy), not a tensorweaver "
                                 "checkpoint; load it with numpy.load, or write checkpoints with tw.save")
    if _HEADER not in archive.files:
        names = archive.files
        archive.close()
        if any(n.endswith("data.pkl") or n.endswith(".pkl") for n in names):
            raise SerializationError(
                f"tw.load: {where} looks like a PyTorch checkpoint (torch.save, which pickles). tensorweaver "
                "never unpickles files. In PyTorch, convert it: "
                "numpy.savez('weights.npz', **{k: v.numpy() for k, v in torch.load(path).items()}), then "
                "model.load_state_dict(dict(numpy.load('weights.npz'))).")
        raise SerializationError(f"tw.load: {where} is an .npz archive but not a tensorweaver checkpoint (it has "
                                 f"no {_HEADER!r} member; members: {names[:5]}). For plain arrays use numpy.load.")
    return archive


def load(f, map_location=None, weights_only=True):
    """Load an object saved by ``tw.save`` from ``f`` (a path or a readable binary file).

    Tensors come back on this process's backend with their saved dtypes; saved
    ``Parameter``s come back as ``Parameter``s. ``map_location`` (a device string) is
    checked against the backend; ``weights_only`` is accepted for compatibility with
    ``torch.load``: loading is always weights-only (no pickle).

    Raises ``SerializationError`` (naming the file) for a corrupt, truncated or foreign
    file, and ``FileNotFoundError`` for a missing path.
    """
    if map_location is not None:
        check_device(map_location)
    where = _describe(f)
    archive = _open_archive(f, where)
    try:
        try:
            raw = archive[_HEADER]
            header = json.loads(bytes(raw.astype(np.uint8)).decode("utf-8"))
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(f"tw.load: {where} is corrupt: its {_HEADER} header cannot be read "
                                     f"({type(exc).__name__}: {exc})") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT or "tree" not in header:
            raise SerializationError(f"tw.load: {where} is corrupt: its header is not a tensorweaver header")
        version = header.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise SerializationError(f"tw.load: {where} was written in checkpoint format version {version}, but this "
                                     f"tensorweaver reads versions up to {VERSION}; upgrade tensorweaver")
        try:
            return _Decoder(archive, f"tw.load: {where}").decode(header["tree"])
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(f"tw.load: {where} is corrupt: reading its arrays failed "
                                     f"({type(exc).__name__}: {exc})") from exc
    finally:
        archive.close()


__all__ = ["save", "load", "SerializationError"]
