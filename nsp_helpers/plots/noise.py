"""Figures about the noise models themselves (chapter *Noisy networks*, ``book/noisy_networks.md``).

Each function returns a :class:`~nsp_helpers.plots.style.BookFigure` in the book's style
(:mod:`nsp_helpers.plots.style`), uses the object-oriented matplotlib API and changes no global
plotting state. Torch (for sampling) is imported only when a figure is drawn.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError, check_bool, check_float, check_int, check_ints, check_objects
from ..noise import NoiseModel
from .style import colour, family_name, figure_function, legend_below, new_figure, number

__all__ = ["noise_moments_figure", "preactivation_distribution_figure"]


def _check_noise(name: str, noise) -> NoiseModel:
    if not isinstance(noise, NoiseModel):
        raise InvalidParameterError(f"{name} must be a nsp_helpers.noise.NoiseModel, got {noise!r}")
    return noise


def _check_count(name: str, value, minimum: int = 1, maximum: int = 10**8) -> int:
    return check_int(name, value, minimum, maximum, allow_integral_float=True)


def _second_moment_target(noise: NoiseModel) -> np.ndarray:
    """E[eps^2] predicted by the model: mu2 for multiplicative noise, the variance for additive noise."""
    return np.asarray(noise.additive_variance if noise.kind == "additive" else noise.mu2, dtype=float)


@figure_function
def noise_moments_figure(noises, families, *, n_samples: int = 20_000, seed: int = 0):
    r"""Noise distributions with equal :math:`\mu_2`, and sample second moments against :math:`\mu_2`.

    Panel (a) draws ``n_samples`` values of each noise model in ``noises`` and shows their empirical
    cumulative distribution functions (which treat discrete noise, such as dropout, and continuous
    noise alike); the legend gives each model's sample mean and sample :math:`\mathbb{E}[\epsilon^2]`.
    Panel (b) samples each *family* in ``families`` (noise models with array parameters) and plots
    the sample second moment :math:`\overline{\epsilon^2}` (± 2 standard errors) against the model's
    :math:`\mu_2` (for additive noise: against its variance :math:`\sigma_\epsilon^2`), with the
    identity line as the theory.

    Introduced in the chapter *Noisy networks*.

    Parameters
    ----------
    noises : sequence of NoiseModel
        Single noise levels for panel (a).
    families : sequence of NoiseModel
        Families of noise levels (1-d parameter arrays) for panel (b).
    n_samples : int, optional
        Samples per noise level (default 20 000).
    seed : int, optional
        Seed of the torch generator (default 0).

    Returns
    -------
    BookFigure
        The two-panel figure.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, MultiplicativeGaussian
    >>> fig = noise_moments_figure([Dropout(0.5)], [MultiplicativeGaussian([0.5, 1.0])], n_samples=100)
    >>> len(fig.axes)
    2
    """
    import torch

    noises = check_objects("noises", noises, NoiseModel, "NoiseModel objects")
    families = check_objects("families", families, NoiseModel, "NoiseModel objects")
    n_samples = _check_count("n_samples", n_samples, 2)
    seed = check_int("seed", seed, 0)
    if not noises or not families:
        raise InvalidParameterError("noises and families must each contain at least one noise model")
    for fam in families:
        if len(fam.shape) != 1:
            raise InvalidParameterError(f"each family must have 1-d parameters, got shape {fam.shape} for {fam!r}")

    generator = torch.Generator().manual_seed(int(seed))
    fig, axes = new_figure(1, 2, height=2.6)
    ax_a, ax_b = axes[0]

    for noise in noises:
        eps = noise.sample((n_samples,), generator=generator, dtype=torch.float64).numpy().ravel()
        values = np.sort(eps)
        ecdf = np.arange(1, values.size + 1) / values.size
        label = f"{noise.label}: mean {eps.mean():.2f}, " + r"$\overline{\epsilon^2}$" + f" = {np.mean(eps**2):.2f}"
        ax_a.step(values, ecdf, where="post", label=label)
    ax_a.set_xlabel(r"noise value $\epsilon$")
    ax_a.set_ylabel("empirical CDF")
    ax_a.set_title("(a) different noise, same second moment")

    top = 0.0
    for k, fam in enumerate(families):
        eps = fam.sample((n_samples,), generator=generator, dtype=torch.float64).numpy()
        moment = np.mean(eps**2, axis=-1)
        stderr = np.std(eps**2, axis=-1, ddof=1) / np.sqrt(n_samples)
        target = _second_moment_target(fam)
        top = max(top, float(np.max(target)), float(np.max(moment)))
        ax_b.errorbar(target, moment, yerr=2 * stderr, fmt="os^vD<>"[k % 7], ms=4.5, capsize=2, color=colour(k),
                      label=f"{family_name(fam)} (sample)")
    line = np.array([0.0, top * 1.05])
    ax_b.plot(line, line, "k--", lw=1, label=r"theory: $\overline{\epsilon^2} = \mu_2$")
    ax_b.set_xlabel(r"$\mu_2$ of the model ($\sigma_\epsilon^2$ if additive)")
    ax_b.set_ylabel(r"sample $\overline{\epsilon^2}$")
    ax_b.set_title("(b) sampled vs predicted")
    legend_below(fig, groups=[("(a) sample mean and second moment", *ax_a.get_legend_handles_labels()),
                              ("(b) families of noise levels", *ax_b.get_legend_handles_labels())])
    return fig


@figure_function
def preactivation_distribution_figure(
    noise,
    widths=(1, 4, 1000),
    *,
    sigma_w2: float = 2.0,
    q0: float = 1.0,
    n_samples: int = 10_000,
    seed: int = 0,
    standardize: bool = False,
):
    r"""Distribution of one noisy pre-activation at several widths, against a Gaussian.

    For each width :math:`N`, the constant input :math:`x_j = \sqrt{q^0/2}` (whose mean square
    :math:`q^0/2` is what a ReLU layer with pre-activation variance :math:`q^0` outputs on average) is
    fed ``n_samples`` times through a fresh noisy unit
    :math:`h = \sum_j W_j (\epsilon_j x_j)` (multiplicative noise) or :math:`\sum_j W_j (x_j + \epsilon_j)`
    (additive noise), :math:`W_j \sim \mathcal{N}(0, \sigma_w^2/N)`, no bias. The histogram of
    :math:`h` is drawn with the Gaussian density of the exact variance given this input,
    :math:`\mathbb{E}[h^2] = \sigma_w^2(\mu_2 q^0/2 + \sigma_\epsilon^2)`: at small width the noise makes
    :math:`h` visibly non-Gaussian (a scale mixture, with an atom at 0 for dropout), at large width the
    central limit theorem makes it Gaussian. Each panel's title gives the sample excess kurtosis
    (0 for a Gaussian); an atom at zero is clipped and its probability printed.

    With ``standardize=True``, :math:`h` is divided by :math:`\sqrt{\mathbb{E}[h^2]}`, so the reference
    is the standard Gaussian and the axes are the same for every noise level: the chapter's slider over
    the keep probability uses this to show only the change of *shape*.

    Introduced in the chapter *Noisy networks*.

    Parameters
    ----------
    noise : NoiseModel
        A single noise level.
    widths : sequence of int, optional
        Widths :math:`N` to show, one panel each (default ``(1, 4, 1000)``).
    sigma_w2 : float, optional
        Weight variance :math:`\sigma_w^2` (default 2, He initialisation).
    q0 : float, optional
        Pre-activation variance of the previous layer; the input is :math:`x_j = \sqrt{q^0/2}` (default 1).
    n_samples : int, optional
        Number of (weights, noise) draws per width (default 10 000).
    seed : int, optional
        Seed of the torch generator (default 0).
    standardize : bool, optional
        Divide :math:`h` by its exact standard deviation, with fixed axes :math:`[-4, 4]` (default False).

    Returns
    -------
    BookFigure
        One panel per width.

    Notes
    -----
    Given the noise, :math:`h` is Gaussian with variance :math:`\sigma_w^2 (q^0/2) S/N`,
    :math:`S = \sum_j \epsilon_j^2`, so :math:`h` is a scale mixture of Gaussians with excess kurtosis

    .. math::

        \kappa = \frac{3 \operatorname{Var}[\epsilon^2]}{N \mu_2^2},
        \qquad \kappa_{\text{dropout}} = \frac{3 (1 - p)}{p N} ,

    for multiplicative noise: it falls like :math:`1/N`, and stronger noise needs wider layers.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> fig = preactivation_distribution_figure(Dropout(0.6), widths=(2, 50), n_samples=200)
    >>> len(fig.axes)
    2
    >>> fig = preactivation_distribution_figure(Dropout(0.3), widths=(4,), n_samples=200, standardize=True)
    >>> [float(v) for v in fig.axes[0].get_xlim()]
    [-4.0, 4.0]
    """
    import torch

    noise = _check_noise("noise", noise)
    if noise.shape != ():
        raise InvalidParameterError(f"noise must be a single noise level, not a family: {noise!r}")
    widths = check_ints("widths", list(widths) if isinstance(widths, (list, tuple, np.ndarray)) else [widths], 1, 10**6)
    sigma_w2 = check_float("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True)
    q0 = check_float("q0", q0, 0.0, np.inf, low_open=True)
    n_samples = _check_count("n_samples", n_samples, 2)
    seed = check_int("seed", seed, 0)
    standardize = check_bool("standardize", standardize)

    generator = torch.Generator().manual_seed(int(seed))
    fig, axes = new_figure(1, len(widths), height=2.6, sharey=False)
    axes = axes[0]
    var = sigma_w2 * (float(noise.mu2) * q0 / 2.0 + float(noise.additive_variance))
    scale = np.sqrt(var) if standardize else 1.0
    if standardize:
        var = 1.0
    edge = 4.0 * np.sqrt(var)
    grid = np.linspace(-edge, edge, 301)
    peak = 1.0 / np.sqrt(2 * np.pi * var)
    for ax, width in zip(axes, widths):
        x = torch.full((n_samples, width), np.sqrt(q0 / 2.0), dtype=torch.float64)
        w = torch.randn(n_samples, width, generator=generator, dtype=torch.float64) * np.sqrt(sigma_w2 / width)
        h = (w * noise.apply(x, generator=generator)).sum(dim=1).numpy() / scale
        ax.hist(h, bins=np.linspace(-edge, edge, 61), density=True, color=colour(0), alpha=0.6, label="simulation")
        ax.plot(grid, np.exp(-grid**2 / (2 * var)) * peak, "k--", lw=1.2, label="Gaussian, same variance")
        ax.set_ylim(0, 1.6 * peak)
        at_zero = float(np.mean(h == 0.0))
        if at_zero >= 0.005:
            ax.annotate(f"P(h = 0)\n= {at_zero:.2f}", xy=(-0.95 * edge, 1.55 * peak), ha="left", va="top")
        kurt = float(np.mean(h**4) / np.mean(h**2) ** 2 - 3.0)
        ax.set_title(f"N = {width}: excess\nkurtosis {number(kurt, '.2f')}")
        if standardize:
            ax.set_xlim(-edge, edge)
        ax.set_xlabel(r"standardised $h / \sqrt{\mathbb{E}[h^2]}$" if standardize else "pre-activation $h$")
    axes[0].set_ylabel("density")
    legend_below(fig, axes[-1], ncols=2)
    fig.suptitle(noise.label)
    return fig
