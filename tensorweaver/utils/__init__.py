"""``tensorweaver.utils``: data loading (``tensorweaver.utils.data``)."""
from tensorweaver.utils import data  # noqa: F401
