"""``default_collate`` and ``default_convert``: how samples become batches, as torch's.

The rules, by the type of the first sample's element:

============================  ==============================================================
Tensor                        stacked along a new first dim (all must have one shape)
NumPy array                   made a Tensor (same dtype), then stacked
NumPy scalar (``np.float32``) a 1-d Tensor of that dtype
``float`` / ``int`` / bool    a float64 / int64 / bool Tensor
``str`` / ``bytes``           left as they are (the list, or tuple, given)
Mapping (dict, OrderedDict)   the same mapping type, each key collated
namedtuple                    the same namedtuple, each field collated
tuple / list                  a *list* of collated fields (torch returns a list for tuples too):
                              ``[(x0, y0), (x1, y1)] -> [stack(x), stack(y)]``
============================  ==============================================================
"""
from __future__ import annotations

import collections.abc
import numbers

from tensorweaver import backend, dtypes
from tensorweaver.tensor import Tensor, _make_tensor

xp = backend.xp
_host = backend.host_numpy()


def _numpy_kind_error(elem):
    return TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                     f"found {elem.dtype} (NumPy arrays of strings or objects cannot become tensors: convert them "
                     "in the dataset, or pass a collate_fn)")


def _stack(batch):
    shape = batch[0].shape
    for i, t in enumerate(batch):
        if not isinstance(t, Tensor) or t.shape != shape:
            raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, but got {shape} at "
                               f"entry 0 and {getattr(t, 'shape', type(t).__name__)} at entry {i}")
    return _make_tensor(xp.stack([t.data for t in batch]), False, None)


def default_collate(batch):
    """Merge a list of samples into a batch (see the module docstring for the rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if isinstance(elem, _host.ndarray):
        if elem.dtype.kind in "OSUV":
            raise _numpy_kind_error(elem)
        return _stack([Tensor(a) for a in batch])
    if isinstance(elem, _host.generic):                  # NumPy scalars keep their dtype
        if elem.dtype.kind in "OSUV":
            raise _numpy_kind_error(elem)
        return Tensor(_host.asarray(batch, dtype=elem.dtype))
    if isinstance(elem, bool):
        return Tensor(list(batch), dtype=dtypes.bool)
    if isinstance(elem, numbers.Integral):
        return Tensor(list(batch), dtype=dtypes.int64)
    if isinstance(elem, numbers.Real):
        return Tensor(list(batch), dtype=dtypes.float64)
    if isinstance(elem, (str, bytes)):
        return batch                                    # as given (a tuple, for a field of tuple samples)
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:                               # a mapping type that cannot be built from a dict
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):        # namedtuple
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(samples) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return fields
        try:
            return type(elem)(fields)                   # a list subclass keeps its type
        except TypeError:
            return fields
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


def default_convert(data):
    """NumPy arrays (in any nesting of dicts, namedtuples, tuples and lists) become Tensors;
    everything else is left as it is. The DataLoader applies it when ``batch_size=None``."""
    if isinstance(data, _host.ndarray):
        return data if data.dtype.kind in "OSUV" else Tensor(data)
    if isinstance(data, _host.generic) and data.dtype.kind not in "OSUV":
        return Tensor(_host.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
