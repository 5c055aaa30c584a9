"""The differentiable operations, one module per family.

- ``elementwise``: arithmetic, activations, comparisons, where/masked_fill
- ``reduction``: sum/mean/max/min/var/std, logsumexp, softmax, argmax
- ``shape``: reshape, transpose/permute, squeeze, expand, cat/stack, split, tril
- ``indexing``: ``tensor[index]``
- ``linalg``: matmul and the fused linear
- ``creation``: factories and random tensors
"""
