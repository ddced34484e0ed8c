"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_global_plot_state():
    """Figure functions must not touch pyplot's figure list or the global rcParams."""
    import matplotlib
    import matplotlib.pyplot as plt

    before_figs = plt.get_fignums()
    before_rc = dict(matplotlib.rcParams)
    yield
    assert plt.get_fignums() == before_figs
    assert dict(matplotlib.rcParams) == before_rc
