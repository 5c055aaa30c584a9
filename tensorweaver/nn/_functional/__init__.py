"""The implementation of ``tensorweaver.nn.functional``, split by family.

``nn/functional.py`` imports the public names from here; users import them from
``tensorweaver.nn.functional`` (as ``torch.nn.functional``).
"""
