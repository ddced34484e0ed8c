"""The book's figure style (nsp_helpers.plots.style), applied by every figure function of nsp_helpers.plots.

Checked on the figures that need no simulation (theory, or results passed in): text at least 9 pt, at
most the column's width, legends off the data, the book's colours, a white background, an alternative
text without TeX, and a narrow variant whose panels are stacked in one column. Importing the plots and
drawing theory alone does not import torch.
"""

from __future__ import annotations

import io
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.legend import Legend
from matplotlib.text import Text
from PIL import Image

from nsp_helpers import plots, theory
from nsp_helpers.noise import Dropout, MultiplicativeGaussian, NoNoise
from nsp_helpers.errors import InvalidParameterError
from nsp_helpers.plots import style

matplotlib.use("Agg")


def _ridge(noise):
    return theory.maximise_depth_scale(noise, np.geomspace(1e-3, 0.3, 4), "tanh", sigma_w2_bounds=(0.05, 6.0),
                                       n_grid=8, n_iter=6)


def _maps():
    sw, sb = np.linspace(0.3, 4.0, 8), np.linspace(0.01, 0.4, 5)
    noises = [NoNoise(), Dropout(0.9), MultiplicativeGaussian(0.5)]
    maps = np.stack([theory.depth_scale_map(n, sw, sb, "tanh") for n in noises])
    return plots.depth_scale_map_figure(sw, sb, maps, noises, ridges=[None, _ridge(noises[1]), None],
                                        edge=theory.noiseless_edge_of_chaos(sb, "tanh"),
                                        points=[None, None, [(1.0, 0.1)]])


_CRITICAL = [dict(sigma_w2=1.2, noise=Dropout(0.6), label="dropout, critical"),
             dict(sigma_w2=1.38, noise=Dropout(0.6), label="dropout, above", linestyle="--"),
             dict(sigma_w2=1.88, noise=MultiplicativeGaussian(0.25), label="Gaussian, critical", marker="s")]
_RESULTS = {"config": {}, "cells": [{"depth": d, "keep_prob": k, "train_loss": [0.2, 0.1 * d * k],
                                     "val_loss": [0.3, 0.1 * d * k]} for d in (2, 6, 10) for k in (0.5, 0.8, 1.0)]}

#: figures drawn without simulation: name -> a function making one
THEORY_FIGURES = {
    "correlation_dynamics": lambda: plots.correlation_dynamics_figure(0.6, 0.9),
    "correlation_dynamics_no_noise": lambda: plots.correlation_dynamics_figure(1.0, -0.5),
    "trainable_depth_rule": lambda: plots.trainable_depth_rule_figure(0.8),
    "depth_scale_curve": lambda: plots.depth_scale_curve_figure(Dropout(0.95), sigma_w2=np.linspace(0.3, 4, 12)),
    "depth_scale_map": _maps,
    "depth_scale_ridge": lambda: plots.depth_scale_ridge_figure([_ridge(Dropout(0.9))], [Dropout(0.9)]),
    "cobweb": lambda: plots.cobweb_figure(_CRITICAL, q0=2.0, n_layers=6),
    "critical_boundary": lambda: plots.critical_boundary_figure(points=_CRITICAL),
    "failure_depth": lambda: plots.failure_depth_figure(Dropout(0.6), np.linspace(0.1, 2.5, 9)),
    "variance_map": lambda: plots.variance_map_figure(_CRITICAL, simulate_points=False),
    "variance_propagation": lambda: plots.variance_propagation_figure(_CRITICAL, simulate_points=False, log_scale=True),
    "gradient_decay_rate": lambda: plots.gradient_decay_rate_figure([0.8, 0.9], {"g_aa": [0.2, 0.1]}, [0.8, 0.9],
                                                                    [0.5, 0.7]),
    "signal_propagation": lambda: plots.signal_propagation_figure({"He": np.ones((2, 6)), "critical": np.ones((2, 6))},
                                                                  {"He": 1.2, "critical": 1.0}),
    "training_curves": lambda: plots.training_curves_figure(_RESULTS, [0.5, 1.0], baselines={"zeros": 0.3}),
    "width_for_spread": lambda: plots.width_for_spread_figure([NoNoise(), Dropout(0.5)], depths=[10, 50, 100]),
    "log_q_band_frame": lambda: plots.log_q_band_frame(128, Dropout(0.5), 50),
    "log_q_cdf_frame": lambda: plots.log_q_cdf_frame(128, 50, [Dropout(0.5), MultiplicativeGaussian(1.0)]),
}


@pytest.fixture(scope="module", params=sorted(THEORY_FIGURES))
def figure(request):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = THEORY_FIGURES[request.param]()
    FigureCanvasAgg(fig).draw()  # tick labels exist after drawing
    return request.param, fig


def test_every_figure_function_is_in_the_book_style():
    """Each public figure function runs under the style and finishes its figure (figure_function)."""
    functions = [name for name in plots.__all__ if name.endswith(("_figure", "_frame"))]
    assert len(functions) >= 35
    unstyled = [name for name in functions if not getattr(getattr(plots, name), "__book_figure__", False)]
    assert unstyled == []


def test_plots_import_their_figure_functions_explicitly():
    import inspect

    source = inspect.getsource(plots)
    assert "iter_modules" not in source and "__getattr__" not in source
    for name in plots.__all__:
        assert name in vars(plots), f"plots.{name} is not imported by nsp_helpers/plots/__init__.py"


def test_theory_figures_do_not_import_torch():
    code = (
        "import sys\n"
        "import nsp_helpers.plots as plots\n"
        "from nsp_helpers.noise import Dropout\n"
        "for fig in (plots.correlation_dynamics_figure(0.6, 0.9), plots.trainable_depth_rule_figure(0.8),\n"
        "            plots.depth_scale_curve_figure(Dropout(0.9)), plots.critical_boundary_figure()):\n"
        "    fig.to_html()\n"
        "print(sorted(m for m in ('torch', 'matplotlib.pyplot') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "[]", f"drawing theory imported {out.stdout.strip()}"


def test_text_is_at_least_nine_points(figure):
    name, fig = figure
    small = {t.get_text(): t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < style.MIN_FONT_SIZE}
    assert small == {}, f"{name}: text under {style.MIN_FONT_SIZE} pt"


def test_figures_fit_the_column_and_are_shown_at_their_size(figure):
    name, fig = figure
    assert isinstance(fig, style.BookFigure)
    width, height = fig.css_size()
    assert width <= 672, f"{name} is {width} CSS pixels wide, the column 672"
    png = Image.open(io.BytesIO(fig.png()))
    assert png.size == (style.RESOLUTION * width, style.RESOLUTION * height), "PNG at twice the shown size"
    assert to_hex(fig.get_facecolor()) == "#ffffff"
    assert png.getpixel((1, 1))[:3] == (255, 255, 255), "an opaque white background (dark mode)"


def test_legends_are_off_the_data(figure):
    """No legend overlaps a panel: legends are placed below the figure (style.legend_below)."""
    name, fig = figure
    renderer = fig.canvas.get_renderer()
    legends = [a for a in fig.findobj(Legend) if a.get_visible()]
    assert legends, f"{name} has no legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.panels:
            overlap = box.intersection(box, ax.get_window_extent(renderer))
            assert overlap is None or overlap.width * overlap.height < 1, f"{name}: a legend covers a panel"


def test_colours_come_from_the_book_palette(figure):
    """Coloured lines use the colour-blind-safe palette (greys and colour maps aside)."""
    name, fig = figure
    from matplotlib.lines import Line2D

    from matplotlib import colormaps

    allowed = {c.lower() for c in (*style.COLOURS, style.ACCENT)}
    allowed |= {to_hex(c) for c in colormaps["viridis"](np.linspace(0, 1, 256))}  # depth order (training curves)
    for line in fig.findobj(Line2D):
        colour = to_hex(line.get_color())
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        if max(r, g, b) - min(r, g, b) < 12 or line.get_path_effects():  # grey, black, white, outlined
            continue
        assert colour in allowed or line.axes is None or line.axes not in fig.panels, (
            f"{name}: line colour {colour} is not in style.COLOURS")


def test_alternative_text_is_plain(figure):
    name, fig = figure
    alt = fig.alt
    assert alt.startswith("Figure") and len(alt) > 30
    assert "$" not in alt and "\\" not in alt, f"{name}: TeX in the alternative text: {alt}"
    fig.alt = "A chapter's own description."
    assert fig.alt == "A chapter's own description." and 'alt="A chapter&#x27;s own description."' in fig.to_html()
    fig.alt = None


def test_narrow_variant_stacks_the_panels(figure):
    name, fig = figure
    fig.png()
    before = (fig.css_size(), np.array([ax.get_position(original=True).bounds for ax in fig.axes]), len(fig.legends))
    width, height = fig.css_size(narrow=True)
    assert width == round(style.NARROW_WIDTH * style.CSS_PX_PER_INCH)
    renderer = fig.canvas.get_renderer()
    with fig._narrow_layout(True):
        fig.canvas.draw()
        boxes = [ax.get_window_extent(renderer).frozen() for ax in fig.panels if ax.get_visible()]
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        assert all(t.get_fontsize() >= style.MIN_FONT_SIZE for t in texts), "the text keeps its size"
    for upper, lower in zip(boxes, boxes[1:]):
        assert upper.y0 > lower.y1 - 1, f"{name}: panels not stacked in the narrow variant"
    fig.png()
    after = (fig.css_size(), np.array([ax.get_position(original=True).bounds for ax in fig.axes]), len(fig.legends))
    assert after[0] == before[0] and after[2] == before[2], "rendering the narrow variant must leave the figure as it was"
    np.testing.assert_allclose(after[1], before[1], atol=2e-3, err_msg="the panels must go back where they were")
    html = fig.to_html()
    assert html.count("data:image/png;base64,") == 2 and "<source media=" in html


def test_numbers_for_readers():
    assert style.number(3.4028e38, ".2g") == "3.4 × 10³⁸"
    assert style.number(float("-inf")) == "−∞"
    assert style.number(40.0, "d") == "40"
    with pytest.raises(InvalidParameterError, match=r"^spec must be a format specification such as '\.3g' or 'd', got the string"):
        style.number(0.5, "\x0c1")  # a drawn string: Python's own message ("Invalid format specifier") names no parameter
    assert style.plain_text(r"$\max_{\sigma_w^2} \xi_c$ (layers)") == "max_(σ_w²) ξ_c (layers)"
