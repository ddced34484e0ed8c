"""Figure functions used by the chapters (matplotlib), one module per topic, one style for all.

Every figure function is available directly as ``nsp_helpers.plots.<name>``. Each returns a
:class:`~nsp_helpers.plots.style.BookFigure` drawn in the book's style (:mod:`nsp_helpers.plots.style`:
sizes, fonts, colours, line widths, and the wide and narrow variants the book shows) and never changes
global plotting state. Drawing theory alone needs no torch: the modules import the simulator only
inside the functions that simulate.

Examples
--------
>>> from nsp_helpers import plots
>>> fig = plots.correlation_dynamics_figure(keep_prob=0.8, c0=0.9, n_layers=5)
>>> type(fig).__name__, bool(fig.get_figwidth() <= plots.style.TEXT_WIDTH)
('BookFigure', True)
"""

from . import style
from .correlation import correlation_dynamics_figure, correlation_figure
from .depth import (
    depth_scale_curve_figure,
    depth_scale_fit_figure,
    depth_scale_map_figure,
    depth_scale_parity_figure,
    depth_scale_ridge_figure,
    trainable_depth_rule_figure,
)
from .finite_width import (
    log_q_band_frame,
    log_q_bands_figure,
    log_q_cdf_frame,
    mean_median_figure,
    median_stable_figure,
    noise_label,
    same_mu2_figure,
    spread_scaling_figure,
    trainable_depth_spread_figure,
    width_for_spread_figure,
)
from .gradients import (
    gradient_decay_rate_figure,
    gradient_depth_figure,
    linear_network_figure,
    pair_correlation_figure,
    signal_propagation_figure,
    universality_figure,
)
from .noise import noise_moments_figure, preactivation_distribution_figure
from .style import BookFigure
from .training import trainable_depth_heatmap_figure, training_curves_figure
from .variance import (
    cobweb_figure,
    critical_boundary_figure,
    critical_settings,
    failure_depth_figure,
    variance_dynamics_figure,
    variance_map_figure,
    variance_propagation_figure,
)
from .variance_depth import variance_depth_figure, variance_depth_layer_figure

__all__ = [
    "BookFigure",
    "cobweb_figure",
    "correlation_dynamics_figure",
    "correlation_figure",
    "critical_boundary_figure",
    "critical_settings",
    "depth_scale_curve_figure",
    "depth_scale_fit_figure",
    "depth_scale_map_figure",
    "depth_scale_parity_figure",
    "depth_scale_ridge_figure",
    "failure_depth_figure",
    "gradient_decay_rate_figure",
    "gradient_depth_figure",
    "linear_network_figure",
    "log_q_band_frame",
    "log_q_bands_figure",
    "log_q_cdf_frame",
    "mean_median_figure",
    "median_stable_figure",
    "noise_label",
    "noise_moments_figure",
    "pair_correlation_figure",
    "preactivation_distribution_figure",
    "same_mu2_figure",
    "signal_propagation_figure",
    "spread_scaling_figure",
    "style",
    "trainable_depth_heatmap_figure",
    "trainable_depth_rule_figure",
    "trainable_depth_spread_figure",
    "training_curves_figure",
    "universality_figure",
    "variance_depth_figure",
    "variance_depth_layer_figure",
    "variance_dynamics_figure",
    "variance_map_figure",
    "variance_propagation_figure",
    "width_for_spread_figure",
]
