"""Variable-length sequences for the recurrent layers, as ``torch.nn.utils.rnn``.

- ``pad_sequence``: a list of (L_i, *) tensors -> one padded (L_max, B, *) tensor.
- ``pack_padded_sequence`` / ``pad_packed_sequence``: padded <-> ``PackedSequence``,
  whose ``data`` holds only the real steps, time-major (all sequences' step 0, then
  step 1 of those still running, ...), and ``batch_sizes`` says how many run at each step.
- ``pack_sequence``, ``unpad_sequence``, ``unpack_sequence``.

Every conversion is one differentiable gather (tensor indexing), so gradients flow
through packing and unpacking. ``RNN``/``LSTM``/``GRU`` accept a ``PackedSequence``: a
sequence's state stops changing after its last step, so ``h_n`` is its own final state.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from tensorweaver.ops.creation import full
from tensorweaver.ops.shape import cat, stack
from tensorweaver.tensor import Tensor

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence",
           "unpad_sequence", "unpack_sequence"]


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """A batch of variable-length sequences, packed time-major.

    Fields: ``data`` (sum of lengths, *), ``batch_sizes`` (int64, one per step: how many
    sequences have that step), ``sorted_indices``/``unsorted_indices`` (int64 permutations
    between the caller's batch order and the packed, longest-first order; None when the
    input was already sorted). Build one with ``pack_padded_sequence`` or ``pack_sequence``.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise TypeError("PackedSequence: build it with pack_padded_sequence() or pack_sequence(), "
                            "not from data alone")
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        return type(self)(self.data.to(*args, **kwargs), self.batch_sizes, self.sorted_indices,
                          self.unsorted_indices)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _host_ints(values, what):
    if isinstance(values, Tensor):
        values = values.numpy()
    values = np.asarray(values)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise ValueError(f"{what} must be a 1-D sequence of integers, got {values!r}")
    return values.astype(np.int64)


def _invert(permutation):
    p = _host_ints(permutation, "sorted_indices")
    inverse = np.empty_like(p)
    inverse[p] = np.arange(p.size)
    return Tensor(inverse)


def _index_maps(batch_sizes):
    """For packed data: the (time, batch) position of each packed row, and the lengths."""
    batch_sizes = _host_ints(batch_sizes, "batch_sizes")
    t_idx = np.repeat(np.arange(batch_sizes.size), batch_sizes)
    b_idx = np.concatenate([np.arange(n) for n in batch_sizes]) if batch_sizes.size else np.zeros(0, np.int64)
    lengths = np.bincount(b_idx, minlength=int(batch_sizes[0]) if batch_sizes.size else 0)
    return t_idx, b_idx, lengths


def _padded_to_packed(padded, batch_sizes):
    """(T, B, *) sequence-first, batch in packed order -> packed data (sum of lengths, *)."""
    t_idx, b_idx, _ = _index_maps(batch_sizes)
    return padded[t_idx, b_idx]


def _packed_to_padded(sequence, total_length=None, padding_value=0.0):
    """PackedSequence -> ((T, B, *) in the packed batch order, host lengths in that order)."""
    t_idx, b_idx, lengths = _index_maps(sequence.batch_sizes)
    steps, batch = len(sequence.batch_sizes), len(lengths)
    steps = steps if total_length is None else total_length
    data = sequence.data
    # Row r of `data` goes to (t_idx[r], b_idx[r]); every other position takes an extra padding row.
    rows = np.full((steps, batch), data.shape[0], dtype=np.int64)
    rows[t_idx, b_idx] = np.arange(data.shape[0])
    pad = full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype)
    return cat([data, pad], 0)[rows], lengths


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"):
    """Stack tensors of shapes (L_i, *) into (L_max, B, *) (``batch_first``: (B, L_max, *)),
    filling with ``padding_value`` after (``padding_side='right'``) or before each sequence."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            pad = full((missing,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype)
            s = cat([s, pad] if padding_side == "right" else [pad, s], 0)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True):
    """Pack a padded batch: ``input`` (T, B, *) (``batch_first``: (B, T, *)) whose sequence b
    has ``lengths[b]`` real steps. With ``enforce_sorted`` the lengths must decrease;
    otherwise the batch is sorted here and the permutation is kept in the result."""
    lengths = _host_ints(lengths, "lengths")
    if batch_first:
        input = input.transpose(0, 1)
    if lengths.size != input.shape[1]:
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got {lengths.size} "
                         f"(batch_size={input.shape[1]})")
    if lengths.size and lengths.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if lengths.size and lengths.max() > input.shape[0]:
        raise RuntimeError(f"a length ({lengths.max()}) exceeds the padded sequence length ({input.shape[0]})")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                               "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                               "pack_sequence to sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = Tensor(order.astype(np.int64))
        input = input[:, order]
        lengths = lengths[order]
    batch_sizes = (np.arange(lengths.max()).reshape(-1, 1) < lengths.reshape(1, -1)).sum(1)
    data = _padded_to_packed(input, batch_sizes)
    return PackedSequence(data, Tensor(batch_sizes.astype(np.int64)), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first: bool = False, padding_value: float = 0.0, total_length=None):
    """Undo ``pack_padded_sequence``: returns (padded (T, B, *) or (B, T, *), lengths int64 (B,))
    in the caller's batch order. ``total_length`` pads to that many steps (at least the longest)."""
    steps = len(sequence.batch_sizes)
    if total_length is not None and total_length < steps:
        raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, "
                         f"but got total_length={total_length} and max sequence length being {steps}")
    padded, lengths = _packed_to_padded(sequence, total_length, padding_value)
    if sequence.unsorted_indices is not None:
        back = _host_ints(sequence.unsorted_indices, "unsorted_indices")
        padded, lengths = padded[:, back], lengths[back]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, Tensor(lengths.astype(np.int64))


def pack_sequence(sequences, enforce_sorted: bool = True):
    """Pack a list of (L_i, *) tensors (``pad_sequence`` then ``pack_padded_sequence``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False):
    """Split a padded batch back into its (L_i, *) tensors."""
    lengths = _host_ints(lengths, "lengths")
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[b, :int(n)] for b, n in enumerate(lengths)]


def unpack_sequence(packed_sequences):
    """Split a ``PackedSequence`` into its (L_i, *) tensors, in the caller's order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
