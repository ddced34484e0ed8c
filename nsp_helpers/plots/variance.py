r"""Figures about the variance map and critical initialisation.

Used by the chapters *The variance map* (``book/variance_map.md``, Pretorius et al. Fig. 2) and
*Critical initialisation* (``book/critical_init.md``, Fig. 3 and the failure depth of Fig. 6a). Every
figure draws the mean-field theory of :mod:`nsp_helpers.theory` as lines and, where it says so, the
Monte Carlo simulation of :mod:`nsp_helpers.simulate` as points on the same axes.

A *setting* is a mapping describing one network::

    {"sigma_w2": 2.0, "sigma_b2": 0.0, "noise": AdditiveGaussian(std=1.0), "activation": "relu",
     "label": "ReLU + He, additive noise", "color": "C1", "linestyle": "--"}

Only ``sigma_w2`` is required; ``sigma_b2`` defaults to 0, ``noise`` to ``NoNoise()``, ``activation``
to ``"relu"``, ``label`` to a description built from the other keys, ``color`` to the next colour of
the cycle, ``linestyle`` to ``"-"`` and ``marker`` (of simulated points) to ``"o"``.
:func:`critical_settings` builds the settings of Fig. 3.

Each function returns a :class:`~nsp_helpers.plots.style.BookFigure` in the book's style
(:mod:`nsp_helpers.plots.style`), uses the object-oriented matplotlib API and changes no global
plotting state. Where theory lines coincide (the critical networks of several noises), the ones drawn
first are drawn wider, so that every line stays visible. Torch is imported only when a figure
simulates.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import theory
from ..errors import InvalidParameterError, caller_sizes, check_bool, check_float, check_in_range, check_int
from ..noise import NoiseModel, NoNoise
from .style import FLOAT32_MAX, FLOAT32_TINY, colour, figure_function, legend_below, new_figure, number

__all__ = [
    "critical_settings",
    "variance_map_figure",
    "variance_dynamics_figure",
    "variance_propagation_figure",
    "cobweb_figure",
    "critical_boundary_figure",
    "failure_depth_figure",
]

_SETTING_KEYS = {"sigma_w2", "sigma_b2", "noise", "activation", "label", "color", "linestyle", "marker"}
#: width of a single-panel figure of this module, inches
_SINGLE_WIDTH = 5.0


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def _count(name: str, value, minimum: int = 1) -> int:
    return check_int(name, value, minimum, allow_integral_float=True)


def _activation_name(activation) -> str:
    return activation if isinstance(activation, str) else getattr(activation, "name", "custom")


def _settings(settings) -> list[dict]:
    """Validate and complete a sequence of settings (see the module docstring)."""
    if isinstance(settings, Mapping):
        settings = [settings]
    settings = list(settings)
    if not settings:
        raise InvalidParameterError("settings must contain at least one setting (a dict with 'sigma_w2')")
    out = []
    for k, s in enumerate(settings):
        if not isinstance(s, Mapping):
            raise InvalidParameterError(f"settings[{k}] must be a dict with at least 'sigma_w2', got {s!r}")
        unknown = sorted(set(s) - _SETTING_KEYS)
        if unknown:
            raise InvalidParameterError(f"settings[{k}] has unknown keys {unknown}; allowed: {sorted(_SETTING_KEYS)}")
        if "sigma_w2" not in s:
            raise InvalidParameterError(f"settings[{k}] needs a 'sigma_w2'")
        sigma_w2 = check_float(f"settings[{k}]['sigma_w2']", s["sigma_w2"], 0.0, np.inf, low_open=True)
        sigma_b2 = check_float(f"settings[{k}]['sigma_b2']", s.get("sigma_b2", 0.0), 0.0, np.inf)
        noise = s.get("noise", NoNoise())
        if not isinstance(noise, NoiseModel) or noise.shape != ():
            raise InvalidParameterError(f"settings[{k}]['noise'] must be a single NoiseModel, got {noise!r}")
        activation = s.get("activation", "relu")
        label = s.get("label") or (
            f"{_activation_name(activation)}, $\\sigma_w^2$ = {sigma_w2:.3g}, {noise.label}"
        )
        out.append(
            dict(sigma_w2=sigma_w2, sigma_b2=sigma_b2, noise=noise, activation=activation, label=label,
                 color=s.get("color", colour(k)), linestyle=s.get("linestyle", "-"), marker=s.get("marker", "o"))
        )
    return out


def _widths(curves) -> list[float]:
    """Line widths that keep coinciding curves visible: a curve that later ones cover is drawn wider."""
    widths = []
    for k, curve in enumerate(curves):
        covered = sum(np.allclose(curve, later, rtol=1e-9, atol=1e-12, equal_nan=True) for later in curves[k + 1:])
        widths.append(1.5 + 1.8 * covered)
    return widths


def _legend_with_points(fig, ax, settings, simulate_points):
    """The legend below a variance figure: the settings, the identity, and what lines and points mean."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    if simulate_points:
        markers = list(dict.fromkeys(s["marker"] for s in settings))
        handles = handles + [Line2D([], [], color="0.3"),
                             Line2D([], [], ls="none", marker=markers[0], ms=4, color="0.3", mfc="white")]
        labels = labels + ["theory (lines)", r"simulation (mean $\pm$ 1 s.d.)"]
    legend_below(fig, handles=handles, labels=labels, ncols=2)


def critical_settings(noise, factors=(1.0, 1.15, 0.85), *, color: str | None = None,
                      marker: str | None = None) -> list[dict]:
    r"""Settings for a noisy ReLU network at and around its critical weight variance.

    Returns one setting per factor :math:`f`, a multiple of the critical weight **standard deviation**
    :math:`\sigma_w = \sqrt{2/\mu_2}` (:func:`nsp_helpers.theory.critical_weight_variance`), so that
    :math:`\sigma_w^2 = f^2 \cdot 2/\mu_2` and every layer multiplies the variance by :math:`f^2`;
    :math:`\sigma_b = 0`, and line styles tell critical (solid), above (dashed) and below (dotted) apart.
    This is how Pretorius et al.'s Fig. 3 and their code (``1.15 * np.sqrt(2 / mu_2)``) move off
    criticality.

    Introduced in the chapter *Critical initialisation*.

    Parameters
    ----------
    noise : NoiseModel
        A single level of multiplicative noise.
    factors : sequence of float, optional
        Multiples :math:`f` of the critical :math:`\sigma_w` (default ``(1.0, 1.15, 0.85)``, as for
        dropout in Pretorius et al.'s Fig. 3; ``(1.0, 1.25, 0.75)`` for their Gaussian noise).
    color : str, optional
        One colour for all the settings (default: the colour cycle).
    marker : str, optional
        One marker for the simulated points of all the settings (default ``"o"``).

    Returns
    -------
    list of dict
        Settings for :func:`variance_propagation_figure` and friends.

    Raises
    ------
    NoCriticalPointError
        For additive noise, which has no critical initialisation.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> [round(s["sigma_w2"], 4) for s in critical_settings(Dropout(keep_prob=0.6))]  # 1.2 * f**2
    [1.2, 1.587, 0.867]
    """
    if not isinstance(noise, NoiseModel) or noise.shape != ():
        raise InvalidParameterError(f"noise must be a single NoiseModel, got {noise!r}")
    factors = check_in_range("factors", factors, 0.0, np.inf, low_open=True).ravel()
    if factors.size == 0:
        raise InvalidParameterError("factors must contain at least one multiple of the critical sigma_w")
    critical = float(theory.critical_weight_variance(noise))
    largest = float(np.sqrt(np.finfo(float).max / critical))
    if np.max(factors) > largest:
        raise InvalidParameterError(f"factors must be at most {largest:.6g} (sigma_w2 = factor**2 * {critical:.6g} must be a "
                                    f"finite float), got {np.max(factors):g}")
    out = []
    for k, f in enumerate(factors):
        if np.isclose(f, 1.0):
            label, style = f"{noise.label}, critical $\\sigma_w^2$ = {critical:.3g}", "-"
        else:
            label = f"{noise.label}, {f:g} $\\times$ critical $\\sigma_w$"
            style = "--" if f > 1 else ":"
        setting = dict(sigma_w2=float(f) ** 2 * critical, sigma_b2=0.0, noise=noise, activation="relu",
                       label=label, linestyle=style)
        if color is not None:
            setting["color"] = color
        if marker is not None:
            setting["marker"] = marker
        out.append(setting)
    return out


# ------------------------------------------------------------------------------------------------
# panels
# ------------------------------------------------------------------------------------------------
def _draw_map(ax, settings, q_values, *, simulate_points, n_inputs, n_networks, width, seed, device):
    grid = np.linspace(0.0, float(np.max(q_values)), 200)
    curves = [theory.variance_map(grid, s["noise"], s["sigma_w2"], s["sigma_b2"], s["activation"]) for s in settings]
    if any(np.allclose(c, grid) for c in curves):  # a line on the identity: the identity becomes a grey band
        ax.plot(grid, grid, color="0.8", lw=6, solid_capstyle="butt", zorder=0, label="identity $q^1 = q^0$")
    else:
        ax.plot(grid, grid, color="0.5", lw=1.0, ls="-.", zorder=0, label="identity $q^1 = q^0$")
    for k, (s, theory_q1, lw) in enumerate(zip(settings, curves, _widths(curves))):
        ax.plot(grid, theory_q1, color=s["color"], ls=s["linestyle"], lw=lw, label=s["label"])
        if simulate_points:
            from .. import simulate

            res = simulate.simulate_variance_map(
                q_values, s["noise"], s["sigma_w2"], s["sigma_b2"], s["activation"], n_inputs=n_inputs,
                n_networks=n_networks, width=width, seed=seed + k, device=device,
            )
            ax.errorbar(res.q0, res.mean, yerr=res.std, fmt=s["marker"], ms=4, color=s["color"], mfc="white",
                        lw=0.8)
    ax.set_xlabel("input variance $q^0$")
    ax.set_ylabel("output variance $q^1$")
    ax.set_xlim(0, grid[-1])


def _draw_dynamics(ax, settings, q0, n_layers, *, simulate_points, n_inputs, n_networks, width, seed, device,
                   log_scale):
    curves = [theory.iterate_variance(q0, n_layers, s["noise"], s["sigma_w2"], s["sigma_b2"], s["activation"])
              for s in settings]  # first: it refuses a depth whose iterates cannot fit in memory, naming n_layers
    layers = np.arange(n_layers + 1)
    for k, (s, q_theory, lw) in enumerate(zip(settings, curves, _widths(curves))):
        ax.plot(layers, q_theory, color=s["color"], ls=s["linestyle"], lw=lw, label=s["label"])
        if simulate_points:
            from .. import simulate

            res = simulate.simulate_variance_dynamics(
                q0, n_layers, s["noise"], s["sigma_w2"], s["sigma_b2"], s["activation"], n_inputs=n_inputs,
                n_networks=n_networks, width=width, seed=seed + k, device=device,
            )
            low, high = res.mean - res.std, res.mean + res.std
            if log_scale:
                low = np.maximum(low, res.mean * 1e-2)
            ax.fill_between(res.layers, low, high, color=s["color"], alpha=0.15, lw=0)
            ax.plot(res.layers, res.mean, s["marker"], ms=4, color=s["color"], mfc="white")
    ax.set_xlabel("layer $l$")
    ax.set_ylabel("variance $q^l$")
    ax.set_xlim(0, n_layers)
    if log_scale:
        ax.set_yscale("log")


def _check_common(**values):
    """The common arguments of the figures, by name: ``q_values``, ``q0``, ``seed``, flags and counts (the rest)."""
    out = {}
    for name, value in values.items():
        if name == "q_values":
            q_values = check_in_range("q_values", value, 0.0, np.inf).ravel()
            if q_values.size == 0 or np.max(q_values) <= 0:
                raise InvalidParameterError("q_values must contain at least one positive variance")
            out[name] = q_values
        elif name == "q0":
            out[name] = check_float("q0", value, 0.0, np.inf)
        elif name == "seed":
            out[name] = check_int("seed", value, 0, 2**62)
        elif name in ("simulate_points", "log_scale"):
            out[name] = check_bool(name, value)
        else:
            out[name] = _count(name, value, 1)
    if out.get("simulate_points") and "q_values" in out and np.max(out["q_values"]) > FLOAT32_MAX:
        raise InvalidParameterError(f"q_values must be in [0, {FLOAT32_MAX:g}] to be simulated (in float32), got "
                                    f"{np.max(out['q_values']):g}; or pass simulate_points=False")
    return out


@figure_function
def variance_map_figure(
    settings,
    q_values=np.linspace(0.0, 15.0, 30),
    *,
    simulate_points: bool = True,
    n_inputs: int = 30,
    n_networks: int = 5,
    width: int = 1000,
    seed: int = 0,
    device=None,
):
    r"""The one-layer variance map :math:`q^0 \mapsto q^1`: theory lines and simulated points.

    For every setting the theory :func:`nsp_helpers.theory.variance_map` is a line and, with
    ``simulate_points``, :func:`nsp_helpers.simulate.simulate_variance_map` gives the mean (open
    circles) ± 1 s.d. (bars) of the measured :math:`q^1` over networks and inputs at each
    :math:`q^0` in ``q_values``. The identity line marks where :math:`q` is preserved.

    Introduced in the chapter *The variance map* (Pretorius et al. Fig. 2a, 3a).

    Parameters
    ----------
    settings : sequence of dict
        Networks to draw (see the module docstring).
    q_values : array_like, optional
        Input variances of the simulation (default 30 values in [0, 15], as in the paper).
    simulate_points : bool, optional
        Simulate (default) or draw the theory only.
    n_inputs, n_networks, width : int, optional
        Simulation sizes: inputs per :math:`q^0`, independent networks, units per layer.
    seed : int, optional
        Seed of the first setting's simulation (setting ``k`` uses ``seed + k``).
    device : None, str or torch.device, optional
        Where to simulate (default: a GPU when present).

    Returns
    -------
    BookFigure

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> fig = variance_map_figure([{"sigma_w2": 1.2, "noise": Dropout(0.6)}], [1.0, 2.0], n_inputs=2,
    ...                           n_networks=1, width=20, device="cpu")
    >>> fig.axes[0].get_xlabel()
    'input variance $q^0$'
    """
    settings = _settings(settings)
    checked = _check_common(q_values=q_values, n_inputs=n_inputs, n_networks=n_networks, width=width, seed=seed,
                            simulate_points=simulate_points)
    fig, axes = new_figure(1, 1, width=_SINGLE_WIDTH, height=3.0)
    ax = axes[0, 0]
    with caller_sizes({"n_inputs": checked["n_inputs"], "n_networks": checked["n_networks"], "width": checked["width"],
                       "len(q_values)": checked["q_values"].size}):
        _draw_map(ax, settings, checked["q_values"], simulate_points=simulate_points, n_inputs=n_inputs,
                  n_networks=n_networks, width=width, seed=int(seed), device=device)
    legend_below(fig, ax, ncols=1 if len(settings) < 3 else 2)
    return fig


@figure_function
def variance_dynamics_figure(
    settings,
    q0: float = 4.0,
    n_layers: int = 15,
    *,
    simulate_points: bool = True,
    n_inputs: int = 50,
    n_networks: int = 5,
    width: int = 1000,
    seed: int = 0,
    device=None,
    log_scale: bool = False,
):
    r"""Variance dynamics :math:`q^l` against depth: iterated theory and simulated mean ± 1 s.d.

    Theory: :func:`nsp_helpers.theory.iterate_variance` (lines). Simulation:
    :func:`nsp_helpers.simulate.simulate_variance_dynamics`, mean over networks and inputs (open
    circles) with a band of ± 1 standard deviation.

    Introduced in the chapter *The variance map* (Pretorius et al. Fig. 2b, 3b).

    Parameters
    ----------
    settings : sequence of dict
        Networks to draw (see the module docstring).
    q0 : float, optional
        Input variance (default 4, as in the paper).
    n_layers : int, optional
        Depth (default 15).
    simulate_points : bool, optional
        Simulate (default) or draw the theory only.
    n_inputs, n_networks, width : int, optional
        Simulation sizes.
    seed : int, optional
        Seed of the first setting's simulation (setting ``k`` uses ``seed + k``).
    device : None, str or torch.device, optional
    log_scale : bool, optional
        Logarithmic variance axis (for geometric growth or decay).

    Returns
    -------
    BookFigure

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> fig = variance_dynamics_figure([{"sigma_w2": 1.2, "noise": Dropout(0.6)}], 1.0, 3, n_inputs=2,
    ...                                n_networks=1, width=20, device="cpu")
    >>> fig.axes[0].get_xlabel()
    'layer $l$'
    """
    settings = _settings(settings)
    checked = _check_common(q0=q0, n_layers=n_layers, n_inputs=n_inputs, n_networks=n_networks, width=width, seed=seed,
                            simulate_points=simulate_points, log_scale=log_scale)
    fig, axes = new_figure(1, 1, width=_SINGLE_WIDTH, height=3.0)
    ax = axes[0, 0]
    with caller_sizes({"n_layers": checked["n_layers"], "n_inputs": checked["n_inputs"], "n_networks": checked["n_networks"],
                       "width": checked["width"]}):
        _draw_dynamics(ax, settings, checked["q0"], checked["n_layers"], simulate_points=simulate_points,
                       n_inputs=n_inputs, n_networks=n_networks, width=width, seed=int(seed), device=device,
                       log_scale=log_scale)
    legend_below(fig, ax, ncols=1 if len(settings) < 3 else 2)
    return fig


@figure_function
def variance_propagation_figure(
    settings,
    *,
    q_values=np.linspace(0.0, 15.0, 30),
    q0: float = 4.0,
    n_layers: int = 15,
    simulate_points: bool = True,
    n_inputs_map: int = 30,
    n_inputs_dynamics: int = 50,
    n_networks: int = 5,
    width: int = 1000,
    seed: int = 0,
    device=None,
    log_scale: bool = False,
):
    r"""Two panels, as in Pretorius et al. Figs. 2 and 3: (a) the variance map, (b) the dynamics.

    Panel (a) is :func:`variance_map_figure`, panel (b) :func:`variance_dynamics_figure`, with one
    shared legend below. Lines are the mean-field theory, open circles (and bars or bands of
    ± 1 s.d.) the simulation.

    Introduced in the chapter *The variance map*; used again in *Critical initialisation*.

    Parameters
    ----------
    settings : sequence of dict
        Networks to draw (see the module docstring).
    q_values : array_like, optional
        Input variances of panel (a) (default 30 values in [0, 15]).
    q0 : float, optional
        Input variance of panel (b) (default 4).
    n_layers : int, optional
        Depth of panel (b) (default 15).
    simulate_points : bool, optional
        Simulate (default) or draw the theory only.
    n_inputs_map, n_inputs_dynamics : int, optional
        Inputs per :math:`q^0` in panel (a) (paper: 30) and inputs in panel (b) (paper: 50).
    n_networks : int, optional
        Independent networks per setting (paper: 50).
    width : int, optional
        Units per layer (paper: 1000).
    seed : int, optional
    device : None, str or torch.device, optional
    log_scale : bool, optional
        Logarithmic variance axis in panel (b).

    Returns
    -------
    BookFigure

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> fig = variance_propagation_figure([{"sigma_w2": 1.2, "noise": Dropout(0.6)}], q_values=[1.0, 2.0],
    ...                                   q0=1.0, n_layers=2, n_inputs_map=2, n_inputs_dynamics=2,
    ...                                   n_networks=1, width=20, device="cpu")
    >>> [ax.get_title() for ax in fig.axes]
    ['(a) variance map', '(b) variance dynamics']
    """
    settings = _settings(settings)
    checked = _check_common(q_values=q_values, q0=q0, n_layers=n_layers, n_inputs_map=n_inputs_map,
                            n_inputs_dynamics=n_inputs_dynamics, n_networks=n_networks, width=width, seed=seed,
                            simulate_points=simulate_points, log_scale=log_scale)
    fig, axes = new_figure(1, 2, height=3.0)
    ax_a, ax_b = axes[0]
    sizes = {"n_networks": checked["n_networks"], "width": checked["width"]}
    with caller_sizes({"n_inputs_map": checked["n_inputs_map"], **sizes, "len(q_values)": checked["q_values"].size}):
        _draw_map(ax_a, settings, checked["q_values"], simulate_points=simulate_points, n_inputs=n_inputs_map,
                  n_networks=n_networks, width=width, seed=int(seed), device=device)
    with caller_sizes({"n_layers": checked["n_layers"], "n_inputs_dynamics": checked["n_inputs_dynamics"], **sizes}):
        _draw_dynamics(ax_b, settings, checked["q0"], checked["n_layers"], simulate_points=simulate_points,
                       n_inputs=n_inputs_dynamics, n_networks=n_networks, width=width, seed=int(seed) + 1000,
                       device=device, log_scale=log_scale)
    ax_a.set_title("(a) variance map")
    ax_b.set_title("(b) variance dynamics")
    _legend_with_points(fig, ax_a, settings, simulate_points)
    return fig


@figure_function
def cobweb_figure(settings, q0: float = 4.0, n_layers: int = 15, *, q_max: float | None = None,
                  log_scale: bool = False):
    r"""Cobweb plot of the iterated variance map (a) and the resulting dynamics (b); theory only.

    Panel (a) draws each setting's variance map :math:`q \mapsto q'`, the identity, and the
    staircase :math:`(q^{l-1}, q^{l-1}) \to (q^{l-1}, q^{l}) \to (q^{l}, q^{l})` that iterating it from
    ``q0`` traces: where the map crosses the identity lies a fixed point :math:`q^*`, stable when
    the map's slope there is below 1. Panel (b) shows the same iterates :math:`q^l` against the layer.

    Introduced in the chapter *The variance map*.

    Parameters
    ----------
    settings : sequence of dict
        Networks to draw (see the module docstring).
    q0 : float, optional
        Start of the iteration (default 4).
    n_layers : int, optional
        Number of iterations (default 15).
    q_max : float, optional
        Right end of panel (a) (default: a little beyond the largest iterate, at most
        ``100 * max(q0, 1)``). Iterates beyond it leave the picture.
    log_scale : bool, optional
        Logarithmic variance axis in panel (b) (default False: the same range as panel (a)).

    Returns
    -------
    BookFigure

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> fig = cobweb_figure([{"sigma_w2": 1.0, "sigma_b2": 0.1, "noise": Dropout(0.6)}], q0=2.0, n_layers=5)
    >>> len(fig.axes)
    2
    """
    settings = _settings(settings)
    checked = _check_common(q0=q0, n_layers=n_layers, log_scale=log_scale)
    q0, n_layers = checked["q0"], checked["n_layers"]
    iterates = [
        theory.iterate_variance(q0, n_layers, s["noise"], s["sigma_w2"], s["sigma_b2"], s["activation"])
        for s in settings
    ]
    if q_max is None:
        largest = max(float(np.max(it[np.isfinite(it)])) for it in iterates)
        q_max = min(max(1.15 * largest, 1.5 * q0, 1.0), 100.0 * max(q0, 1.0))
    q_max = check_float("q_max", q_max, 0.0, np.inf, low_open=True)
    grid = np.linspace(0.0, q_max, 300)
    fig, axes = new_figure(1, 2, height=3.0)
    ax_a, ax_b = axes[0]
    for s, it in zip(settings, iterates):
        q_next = theory.variance_map(grid, s["noise"], s["sigma_w2"], s["sigma_b2"], s["activation"])
        ax_a.plot(grid, q_next, color=s["color"], ls=s["linestyle"], label=s["label"])
        # (q0, q0) -> (q0, q1) -> (q1, q1) -> (q1, q2) -> ...: vertical to the map, horizontal to the identity
        stair_x = np.concatenate([[it[0]], np.repeat(it[:-1], 2)])
        stair_x[2::2] = it[1:]
        stair_y = np.concatenate([[it[0]], np.repeat(it[1:], 2)])
        ax_a.plot(stair_x, stair_y, color=s["color"], lw=1.0, alpha=0.8)
        ax_b.plot(np.arange(n_layers + 1), it, marker="o", ms=3, color=s["color"], ls=s["linestyle"], label=s["label"])
    ax_a.plot(grid, grid, color="0.4", lw=0.8, ls="-.", label="identity $q' = q$")
    ax_a.set_xlim(0, q_max)
    ax_a.set_ylim(0, q_max)
    ax_a.set_xlabel("$q^{l-1}$")
    ax_a.set_ylabel("$q^{l}$")
    ax_a.set_title(f"(a) cobweb from $q^0$ = {number(q0, 'g')}")
    ax_b.set_xlabel("layer $l$")
    ax_b.set_ylabel("variance $q^l$ (theory)")
    ax_b.set_xlim(0, n_layers)
    if log_scale:
        ax_b.set_yscale("log")
    else:
        ax_b.set_ylim(0, q_max)
    ax_b.set_title("(b) the same iterates against depth")
    legend_below(fig, ax_a, ncols=2)
    return fig


@figure_function
def critical_boundary_figure(mu2_range=(1.0, 2.0), points=()):
    r"""The critical line :math:`\sigma_w^2 = 2/\mu_2` of noisy ReLU networks (:math:`\sigma_b = 0`).

    Above the line the variance grows geometrically with depth (and overflows), below it it shrinks
    (and underflows); both regions are shaded. The line is computed with
    :func:`nsp_helpers.theory.critical_weight_variance` for a family of multiplicative Gaussian
    noise levels spanning ``mu2_range``. Each setting in ``points`` is marked at
    :math:`(\mu_2, \sigma_w^2)`.

    Introduced in the chapter *Critical initialisation* (Pretorius et al. Fig. 3c).

    Parameters
    ----------
    mu2_range : (float, float), optional
        Range of :math:`\mu_2` (default ``(1, 2)``, as in the paper), with ``1 <= low < high``.
    points : sequence of dict, optional
        Settings (see the module docstring) to mark; their ``noise`` must be multiplicative.

    Returns
    -------
    BookFigure

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> fig = critical_boundary_figure(points=[{"sigma_w2": 1.2, "noise": Dropout(0.6)}])
    >>> fig.axes[0].get_xlabel()
    'noise second moment $\\mu_2$'
    """
    from ..noise import MultiplicativeGaussian

    bounds = check_in_range("mu2_range", mu2_range, 1.0, np.inf, hint="mu2 = E[eps^2] >= 1").ravel()
    if bounds.size != 2 or not bounds[1] > bounds[0]:
        raise InvalidParameterError(f"mu2_range must be two numbers 1 <= low < high, got {mu2_range!r}")
    low, high = float(bounds[0]), float(bounds[1])
    points = _settings(points) if len(points) else []
    for k, s in enumerate(points):
        if s["noise"].kind == "additive":
            raise InvalidParameterError(f"points[{k}] has additive noise, which has no place on the critical line")
    mu2 = np.linspace(low, high, 200)
    family = MultiplicativeGaussian(std=np.sqrt(mu2 - 1.0))
    sigma_w2 = theory.critical_weight_variance(family)
    top = max(2.5, 1.15 * max([s["sigma_w2"] for s in points], default=0.0))
    fig, axes = new_figure(1, 1, height=3.2)
    ax = axes[0, 0]
    ax.fill_between(mu2, sigma_w2, top, color=colour(1), alpha=0.12, lw=0)
    ax.fill_between(mu2, 0.0, sigma_w2, color=colour(0), alpha=0.12, lw=0)
    ax.plot(mu2, sigma_w2, "k-", lw=2, label=r"critical: $\sigma_w^2 = 2/\mu_2$")
    ax.text(0.98, 0.96, "overflow: $q^l$ grows\ngeometrically", transform=ax.transAxes, ha="right", va="top",
            color=colour(1))
    ax.text(0.02, 0.04, "underflow: $q^l$ shrinks\ngeometrically", transform=ax.transAxes, ha="left",
            va="bottom", color=colour(0))
    markers = {"-": "o", "--": "^", ":": "v", "-.": "s"}
    for s in points:
        ax.plot([s["noise"].mu2], [s["sigma_w2"]], marker=markers.get(s["linestyle"], "o"), ms=7, ls="none",
                color=s["color"], mec="k", mew=0.5, clip_on=False, zorder=3, label=s["label"])
    ax.set_xlim(low, high)
    ax.set_ylim(0, top)
    ax.set_xlabel(r"noise second moment $\mu_2$")
    ax.set_ylabel(r"weight variance $\sigma_w^2$")
    legend_below(fig, ax, ncols=2)
    return fig


@figure_function
def failure_depth_figure(
    noise,
    sigma_w2_values=np.linspace(0.1, 2.5, 25),
    *,
    q0: float = 1.0,
    simulate_sigma_w2=(),
    n_inputs: int = 10,
    n_networks: int = 1,
    width: int = 1000,
    seed: int = 0,
    device=None,
):
    r"""The float32 failure depth :math:`L^*` off criticality: theory (a) and simulated :math:`q^l` (b).

    Panel (a): :func:`nsp_helpers.theory.failure_depth` against :math:`\sigma_w^2` (logarithmic
    depth axis); it diverges at the critical :math:`\sigma_w^2 = 2/\mu_2`. For each value in
    ``simulate_sigma_w2`` a float32 network (:func:`nsp_helpers.simulate.propagate`, 1.15 :math:`L^*`
    layers) is run, and the first layer at which a measured :math:`q^l` is no longer a finite
    normal float32 (``inf``, ``nan``, or below the smallest normal number) is marked as a point.
    Above criticality it lies a few layers before :math:`L^*`: the simulator squares every unit, and
    the square of the largest unit overflows before the mean :math:`q^l` would.
    Panel (b): those simulated :math:`q^l` (median over inputs and networks) on a logarithmic axis,
    with the theory :math:`q^0(\sigma_w^2\mu_2/2)^l` and a vertical line at :math:`L^*`.

    Introduced in the chapter *Critical initialisation* (the theory curve of Pretorius et al. Fig. 6a, whose
    dashed line marks the critical weight variance).

    Parameters
    ----------
    noise : NoiseModel
        A single level of multiplicative noise.
    sigma_w2_values : array_like, optional
        Weight variances of the theory curve (default 25 values in [0.1, 2.5], as in Fig. 6a).
    q0 : float, optional
        Input variance (default 1, the authors' assumption).
    simulate_sigma_w2 : sequence of float, optional
        Off-critical weight variances to simulate (default: none, theory only).
    n_inputs, n_networks, width : int, optional
        Simulation sizes (default 10 inputs, 1 network, width 1000).
    seed : int, optional
    device : None, str or torch.device, optional

    Returns
    -------
    BookFigure
        One panel without simulations, two with.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> fig = failure_depth_figure(Dropout(0.6), [0.5, 2.0], simulate_sigma_w2=[2.4], width=20, n_inputs=2)
    >>> len(fig.axes)
    2
    """
    if not isinstance(noise, NoiseModel) or noise.shape != () or noise.kind == "additive":
        raise InvalidParameterError(f"noise must be a single level of multiplicative noise, got {noise!r}")
    sigma_w2_values = check_in_range("sigma_w2_values", sigma_w2_values, 0.0, np.inf, low_open=True).ravel()
    if sigma_w2_values.size == 0:
        raise InvalidParameterError("sigma_w2_values must hold at least one weight variance")
    simulate_sigma_w2 = check_in_range("simulate_sigma_w2", simulate_sigma_w2, 0.0, np.inf, low_open=True).ravel()
    q0 = check_float("q0", q0, 0.0, np.inf, low_open=True)
    checked = _check_common(n_inputs=n_inputs, n_networks=n_networks, width=width, seed=seed)
    critical = float(theory.critical_weight_variance(noise))
    if np.any(np.isclose(simulate_sigma_w2, critical)):
        raise InvalidParameterError(f"simulate_sigma_w2 must be off criticality (critical sigma_w2 = {critical:g})")

    n_panels = 2 if simulate_sigma_w2.size else 1
    fig, axes = new_figure(1, n_panels, width=7.0 if n_panels == 2 else _SINGLE_WIDTH, height=3.0)
    axes = axes[0]
    ax_a = axes[0]
    fine = np.union1d(np.linspace(sigma_w2_values.min(), sigma_w2_values.max(), 400), sigma_w2_values)
    fine = fine[~np.isclose(fine, critical)]
    depth = theory.failure_depth(noise, fine, q0=q0)
    ax_a.plot(fine, depth, "k-", lw=1.5, label=r"theory $L^* = \ln(K/q^0)/\ln(\sigma_w^2\mu_2/2)$")
    ax_a.axvline(critical, color="0.5", ls=":", lw=1, label=f"critical $\\sigma_w^2$ = {critical:.3g}")
    ax_a.set_yscale("log")
    ax_a.set_xlabel(r"weight variance $\sigma_w^2$")
    ax_a.set_ylabel("failure depth $L^*$ (layers)")
    ax_a.set_title(f"(a) float32 failure depth,\n{noise.label}")

    if simulate_sigma_w2.size:
        ax_b = axes[1]
        for k, sw in enumerate(simulate_sigma_w2):
            predicted = float(theory.failure_depth(noise, sw, q0=q0))
            n_layers = int(np.ceil(1.15 * predicted)) + 2
            from .. import simulate

            h0 = simulate.inputs_with_variance(q0, checked["n_inputs"], checked["width"], seed=seed + k)
            # drawn weight matrices (not the Gram sampler): float32 fails where a real network's would
            out = simulate.propagate(h0, noise, float(sw), 0.0, "relu", n_layers=n_layers,
                                     n_networks=checked["n_networks"], seed=seed + k, device=device, method="weights")
            q = out.q.reshape(n_layers + 1, -1)
            failed = ~np.isfinite(q) | (q < FLOAT32_TINY)
            first = np.argmax(failed.any(axis=1)) if failed.any() else None
            col = colour(k)
            if first is not None:
                ax_a.plot([sw], [first], "o", ms=7, mfc="white", color=col)
            finite = np.where(np.isfinite(q), q, np.nan)
            median = np.array([np.nanmedian(row) if np.isfinite(row).any() else np.nan for row in finite])
            layers = np.arange(n_layers + 1)
            shown = np.isfinite(median) & (median > 0)
            ax_b.plot(layers[shown], median[shown], "o", ms=3, color=col, mfc="white",
                      label=f"simulation, $\\sigma_w^2$ = {sw:.3g}")
            with np.errstate(over="ignore"):
                ax_b.plot(layers, q0 * (sw * noise.mu2 / 2.0) ** layers, color=col, lw=1.2)
            ax_b.axvline(predicted, color=col, ls="--", lw=1.2)
        ax_a.plot([], [], "o", mfc="white", color="k", label="simulation: first layer outside float32")
        ax_b.axhline(FLOAT32_MAX, color="0.5", lw=0.8, ls=":")
        ax_b.axhline(FLOAT32_TINY, color="0.5", lw=0.8, ls=":")
        ax_b.set_yscale("log")
        ax_b.set_xlabel("layer $l$")
        ax_b.set_ylabel("variance $q^l$ (float32)")
        ax_b.set_title("(b) simulated $q^l$")
        from matplotlib.lines import Line2D

        handles_b, labels_b = ax_b.get_legend_handles_labels()
        handles_b += [Line2D([], [], color="0.3", lw=1.2), Line2D([], [], color="0.3", ls="--", lw=1.2),
                      Line2D([], [], color="0.5", ls=":", lw=0.8)]
        labels_b += [r"theory $q^0(\sigma_w^2\mu_2/2)^l$", "failure depth $L^*$", "float32 limits"]
        legend_below(fig, groups=[("(a)", *ax_a.get_legend_handles_labels()), ("(b)", handles_b, labels_b)])
    else:
        legend_below(fig, ax_a, ncols=1)
    return fig
