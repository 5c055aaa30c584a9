"""The hub tests' fixture (class_hub) lives in classhub.py, with the helpers it shares.

The `hub` tests start a JupyterHub and student containers (minutes, several GB of memory):
they run only when selected by marker (`pytest -m hub`, as .ci/hub.sh does), never as part
of a run that did not ask for them.
"""
from classhub import class_hub  # noqa: F401


def pytest_collection_modifyitems(config, items):
    if "hub" in (config.getoption("markexpr") or ""):
        return      # -m hub runs them; -m "not hub" deselects them as usual
    hub_items = [item for item in items if item.get_closest_marker("hub")]
    if hub_items:
        items[:] = [item for item in items if not item.get_closest_marker("hub")]
        config.hook.pytest_deselected(items=hub_items)
