"""Tests of the figure functions of chapters 1-3 (``nsp_helpers.plots.noise``, ``nsp_helpers.plots.variance``)
and of the numbers those chapters glue into their text.

Figure tests use tiny simulation sizes and check the data drawn, not just that a figure appears. The
numbers of the chapters are recomputed here independently (closed forms, scipy quadrature), not read
back from :mod:`nsp_helpers.theory`.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import integrate, optimize

from nsp_helpers import plots, theory
from nsp_helpers.errors import InvalidParameterError, NoCriticalPointError
from nsp_helpers.noise import (
    AdditiveGaussian,
    AdditiveLaplace,
    Dropout,
    MultiplicativeGaussian,
    MultiplicativeLaplace,
    MultiplicativePoisson,
    NoNoise,
)

F32_MAX = float(np.finfo(np.float32).max)
F32_TINY = float(np.finfo(np.float32).tiny)
TINY = dict(n_networks=1, width=20, device="cpu")


def relu_map(q, sigma_w2, sigma_b2=0.0, mu2=1.0, var_eps=0.0):
    """Closed-form ReLU variance map, written out independently of nsp_helpers.theory."""
    return sigma_w2 * (mu2 * np.asarray(q) / 2.0 + var_eps) + sigma_b2


def tanh_second_moment(q):
    """E[tanh(sqrt(q) z)^2] by adaptive scipy quadrature."""
    if q == 0:
        return 0.0
    f = lambda z: np.tanh(np.sqrt(q) * z) ** 2 * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    return integrate.quad(f, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-12)[0]


def lines_with_label(ax, label):
    return [line for line in ax.get_lines() if line.get_label() == label]


# every test: figure functions leave pyplot's figure list and the global rcParams alone (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("no_global_plot_state")


# ------------------------------------------------------------------------------------------------
# numbers glued in the chapters, recomputed independently
# ------------------------------------------------------------------------------------------------

def _kurtosis(title: str) -> float:
    """The excess kurtosis printed in a panel title (a true minus sign, as the book prints numbers)."""
    return float(re.search(r"kurtosis ([-−]?[0-9.]+)", title).group(1).replace("−", "-"))

class TestChapterNumbers:
    def test_ch1_second_moments(self):
        assert Dropout(keep_prob=0.6).mu2 == pytest.approx(1 / 0.6)
        assert MultiplicativeGaussian(std=0.25).mu2 == pytest.approx(1 + 0.25**2)
        assert MultiplicativeLaplace(scale=0.5).mu2 == pytest.approx(1 + 2 * 0.5**2)
        assert MultiplicativePoisson(rate=1.0).mu2 == pytest.approx(2.0)
        assert AdditiveGaussian(std=1.0).additive_variance == pytest.approx(1.0)
        assert AdditiveLaplace(scale=1.0).additive_variance == pytest.approx(2.0)
        # panel (a) of the noise figure: four distributions with the same mu2 = 2
        same = [Dropout(0.5), MultiplicativeGaussian(1.0), MultiplicativeLaplace(np.sqrt(0.5)),
                MultiplicativePoisson(1.0)]
        assert [n.mu2 for n in same] == pytest.approx([2.0] * 4)

    def test_ch1_torch_conversion(self):
        torch = pytest.importorskip("torch")
        noise = Dropout.from_torch(torch.nn.Dropout(p=0.4))
        assert float(noise.keep_prob) == pytest.approx(0.6)
        assert noise.mu2 == pytest.approx(1 / 0.6)
        assert Dropout.from_torch(torch.nn.Dropout(p=0.8)).mu2 == pytest.approx(5.0)

    def test_ch1_exercise4_laplace_fourth_moment(self):
        # Var[eps^2] for eps = 1 + Laplace(0, b) is 8 b^2 + 20 b^4; check against numerical integration
        b = 0.5
        density = lambda x: np.exp(-abs(x) / b) / (2 * b)  # noqa: E731
        m2 = integrate.quad(lambda x: (1 + x) ** 2 * density(x), -np.inf, np.inf)[0]
        m4 = integrate.quad(lambda x: (1 + x) ** 4 * density(x), -np.inf, np.inf)[0]
        assert m4 - m2**2 == pytest.approx(8 * b**2 + 20 * b**4, rel=1e-8)

    def test_ch2_tanh_second_moment(self):
        quadrature = theory.gaussian_expectation(lambda x: np.tanh(x) ** 2, 4.0)
        assert quadrature == pytest.approx(tanh_second_moment(4.0), abs=1e-8)

    def test_ch2_fixed_points(self):
        # tanh + Xavier with additive N(0, 1) noise: q* = E[tanh^2(sqrt(q*) z)] + 1
        q_star = optimize.brentq(lambda q: tanh_second_moment(q) + 1.0 - q, 0.5, 5.0, xtol=1e-13)
        fixed_point = theory.variance_fixed_point(AdditiveGaussian(1.0), 1.0, 0.0, "tanh", q0=4.0)
        assert fixed_point == pytest.approx(q_star, rel=1e-7)
        assert 1.4 < q_star < 1.5
        # ReLU + He with additive noise: the variance grows by sigma_w2 * sigma_eps^2 = 2 per layer
        q = theory.iterate_variance(4.0, 15, AdditiveGaussian(1.0), 2.0, 0.0)
        assert np.diff(q) == pytest.approx(np.full(15, 2.0))
        assert q[-1] == pytest.approx(4.0 + 2 * 15)
        # ReLU + He without noise preserves q0
        assert theory.variance_fixed_point(NoNoise(), 2.0, 0.0, q0=4.0) == pytest.approx(4.0)
        # exercise 2: 0.1 / (1 - 1 * 1.25 / 2)
        assert theory.variance_fixed_point(Dropout(0.8), 1.0, 0.1) == pytest.approx(0.1 / (1 - 1.25 / 2))

    def test_ch3_critical_weight_variances(self):
        assert theory.critical_weight_variance(Dropout(keep_prob=0.6)) == pytest.approx(1.2)
        assert theory.critical_weight_variance(MultiplicativeGaussian(std=0.25)) == pytest.approx(2 / 1.0625)
        assert theory.critical_weight_variance(MultiplicativeLaplace(scale=0.5)) == pytest.approx(2 / 1.5)
        assert theory.critical_weight_variance(MultiplicativePoisson(rate=1.0)) == pytest.approx(1.0)
        assert theory.critical_weight_variance(Dropout(keep_prob=0.5)) == pytest.approx(1.0)  # Xavier
        assert theory.critical_weight_variance(Dropout(keep_prob=1.0)) == pytest.approx(2.0)  # He
        with pytest.raises(NoCriticalPointError, match="additive noise"):
            theory.critical_weight_variance(AdditiveGaussian(std=1.0))

    @pytest.mark.parametrize("sigma_w2", [0.5, 1.0, 1.1, 1.3, 1.5, 2.0, 2.5])
    def test_ch3_failure_depth_table(self, sigma_w2):
        factor = sigma_w2 * (1 / 0.6) / 2
        bound = F32_MAX if factor > 1 else F32_TINY
        assert theory.failure_depth(Dropout(0.6), sigma_w2, q0=1.0) == pytest.approx(math.log(bound) / math.log(factor))

    def test_ch3_failure_depth_kaiming_and_exercise(self):
        # kaiming_normal_ (sigma_w2 = 2) with torch Dropout(p=0.4): factor 5/3 per layer
        assert theory.failure_depth(Dropout(0.6), 2.0) == pytest.approx(math.log(F32_MAX) / math.log(5 / 3))
        assert theory.failure_depth(Dropout(0.6), 2.0) == pytest.approx(173.685, abs=1e-3)
        # exercise 3: the largest factor that survives 300 layers
        assert theory.failure_depth(Dropout(0.6), 1.2 * F32_MAX ** (1 / 300)) == pytest.approx(300.0)

    def test_ch3_slopes_of_fig3(self):
        settings = plots.critical_settings(Dropout(0.6), (1.0, 1.15, 0.85)) + plots.critical_settings(
            MultiplicativeGaussian(0.25), (1.0, 1.25, 0.75)
        )
        # the factors multiply sigma_w (the authors' code: 1.15 * np.sqrt(2 / mu_2)), so sigma_w2 by f**2
        expected_sw2 = [1.2, 1.2 * 1.15**2, 1.2 * 0.85**2, 2 / 1.0625, 1.25**2 * 2 / 1.0625, 0.75**2 * 2 / 1.0625]
        assert [s["sigma_w2"] for s in settings] == pytest.approx(expected_sw2)
        slopes = [theory.variance_slope(s["noise"], s["sigma_w2"], 0.0, q=1.0) for s in settings]
        assert slopes == pytest.approx([1.0, 1.3225, 0.7225, 1.0, 1.5625, 0.5625])
        ratio = theory.iterate_variance(4.0, 15, Dropout(0.6), settings[1]["sigma_w2"], 0.0)[-1] / 4.0
        assert ratio == pytest.approx(1.15**30)  # about 66-fold over 15 layers, as in the paper's Fig. 3b
        assert ratio == pytest.approx(66.2, abs=0.1)


# ------------------------------------------------------------------------------------------------
# plots.variance
# ------------------------------------------------------------------------------------------------
class TestCriticalSettings:
    def test_styles_and_labels(self):
        settings = plots.critical_settings(Dropout(0.6), (1.0, 1.15, 0.85), color="C4")
        assert [s["linestyle"] for s in settings] == ["-", "--", ":"]
        assert all(s["color"] == "C4" and s["sigma_b2"] == 0.0 for s in settings)
        assert "critical" in settings[0]["label"] and "1.15" in settings[1]["label"]

    def test_bad_input(self):
        with pytest.raises(NoCriticalPointError):
            plots.critical_settings(AdditiveGaussian(1.0))
        with pytest.raises(InvalidParameterError, match="factors"):
            plots.critical_settings(Dropout(0.6), factors=(1.0, -1.0))
        with pytest.raises(InvalidParameterError, match="single NoiseModel"):
            plots.critical_settings(Dropout([0.5, 0.6]))


class TestVarianceMapFigure:
    def test_theory_line_is_the_closed_form(self):
        fig = plots.variance_map_figure(
            [dict(sigma_w2=2.0, sigma_b2=0.3, noise=AdditiveGaussian(1.0), label="noisy")], [1.0, 15.0],
            simulate_points=False,
        )
        assert isinstance(fig, Figure)
        (line,) = lines_with_label(fig.axes[0], "noisy")
        q, q1 = line.get_data()
        assert q1 == pytest.approx(relu_map(q, 2.0, 0.3, var_eps=1.0))
        assert q.max() == pytest.approx(15.0)

    def test_simulated_points_follow_the_theory(self):
        fig = plots.variance_map_figure(
            [dict(sigma_w2=1.2, noise=Dropout(0.6))], [2.0, 8.0], n_inputs=5, n_networks=2, width=1000,
            device="cpu",
        )
        points = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]
        assert len(points) == 1
        q0, q1 = points[0].get_data()
        assert list(q0) == [2.0, 8.0]
        assert q1 == pytest.approx(relu_map(q0, 1.2, mu2=1 / 0.6), rel=0.1)

    def test_bad_input(self):
        with pytest.raises(InvalidParameterError, match="sigma_w2"):
            plots.variance_map_figure([dict(noise=Dropout(0.6))], simulate_points=False)
        with pytest.raises(InvalidParameterError, match="unknown keys"):
            plots.variance_map_figure([dict(sigma_w2=1.0, keep_prob=0.6)], simulate_points=False)
        with pytest.raises(InvalidParameterError, match="single NoiseModel"):
            plots.variance_map_figure([dict(sigma_w2=1.0, noise=Dropout([0.5, 0.6]))], simulate_points=False)
        with pytest.raises(InvalidParameterError, match="at least one"):
            plots.variance_map_figure([], simulate_points=False)
        with pytest.raises(InvalidParameterError, match="q_values"):
            plots.variance_map_figure([dict(sigma_w2=1.0)], [-1.0, 2.0], simulate_points=False)
        with pytest.raises(InvalidParameterError, match="n_networks"):
            plots.variance_map_figure([dict(sigma_w2=1.0)], [1.0], n_networks=0)


class TestVarianceDynamicsFigures:
    def test_dynamics_theory_and_points(self):
        fig = plots.variance_dynamics_figure(
            [dict(sigma_w2=1.38, noise=Dropout(0.6), label="above")], q0=4.0, n_layers=4, n_inputs=3, log_scale=True,
            **TINY,
        )
        ax = fig.axes[0]
        (line,) = lines_with_label(ax, "above")
        layers, q = line.get_data()
        assert list(layers) == [0, 1, 2, 3, 4]
        assert q == pytest.approx(4.0 * 1.15 ** np.arange(5))
        assert ax.get_yscale() == "log"
        points = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert points[0].get_data()[1][0] == pytest.approx(4.0)  # the simulated inputs have q0 exactly

    def test_two_panel_figure(self):
        settings = [dict(sigma_w2=1.0, activation="tanh"), dict(sigma_w2=2.0, noise=AdditiveGaussian(1.0))]
        fig = plots.variance_propagation_figure(
            settings, q_values=[1.0, 3.0], q0=4.0, n_layers=3, n_inputs_map=2, n_inputs_dynamics=2, **TINY
        )
        assert [ax.get_title() for ax in fig.axes] == ["(a) variance map", "(b) variance dynamics"]
        assert len(fig.legends) == 1
        # panel (b), ReLU + He + additive noise: +2 per layer
        relu = [line for line in fig.axes[1].get_lines() if line.get_label().startswith("relu")]
        assert relu[0].get_data()[1] == pytest.approx([4.0, 6.0, 8.0, 10.0])
        with pytest.raises(InvalidParameterError, match="n_layers"):
            plots.variance_propagation_figure(settings, n_layers=0, simulate_points=False)

    @pytest.mark.parametrize("sizes, named", [
        (dict(n_inputs_map=10**12), "n_inputs_map=1000000000000"),
        (dict(n_inputs_dynamics=10**12), "n_inputs_dynamics=1000000000000"),
        (dict(n_layers=10**17), "n_layers=100000000000000000"),
        (dict(n_layers=5.520868745069588e16), "n_layers=55208687450695880"),  # an integral float, as the sweep drew it
    ])
    def test_sizes_that_cannot_fit_name_the_figures_parameter(self, sizes, named):
        """Each panel's refusal names the figure's own parameter (n_inputs_map, not the simulation's n_inputs),
        and a depth too large for memory is refused before numpy tries to allocate its layers."""
        kw = dict(q_values=[1.0, 2.0], q0=1.0, n_layers=2, n_inputs_map=2, n_inputs_dynamics=2, n_networks=1, width=8,
                  device="cpu")
        with pytest.raises(InvalidParameterError, match=named) as info:
            plots.variance_propagation_figure([dict(sigma_w2=1.2, noise=Dropout(0.6))], **dict(kw, **sizes))
        assert re.search(r"\bn_inputs=", str(info.value)) is None

    def test_dynamics_figure_too_deep_for_memory_names_n_layers(self):
        with pytest.raises(InvalidParameterError, match="n_layers=100000000000000000"):
            plots.variance_dynamics_figure([dict(sigma_w2=1.2, noise=Dropout(0.6))], 1.0, 10**17, n_inputs=2, **TINY)
        with pytest.raises(InvalidParameterError, match="reduce n_inputs=1000000000000, n_networks=1"):
            plots.variance_map_figure([dict(sigma_w2=1.2, noise=Dropout(0.6))], [1.0, 2.0], n_inputs=10**12, n_networks=1,
                                      width=8, device="cpu")

    def test_cobweb_staircase(self):
        net = dict(sigma_w2=1.0, sigma_b2=0.1, noise=Dropout(0.8), label="net")
        fig = plots.cobweb_figure([net], q0=2.0, n_layers=3)
        ax_a, ax_b = fig.axes
        q = [2.0]
        for _ in range(3):
            q.append(float(relu_map(q[-1], 1.0, 0.1, mu2=1.25)))
        stairs = [line for line in ax_a.get_lines() if line.get_label().startswith("_")]
        x, y = stairs[0].get_data()
        assert x == pytest.approx([q[0], q[0], q[1], q[1], q[2], q[2], q[3]])
        assert y == pytest.approx([q[0], q[1], q[1], q[2], q[2], q[3], q[3]])
        (iterates,) = lines_with_label(ax_b, "net")
        assert iterates.get_data()[1] == pytest.approx(q)
        with pytest.raises(InvalidParameterError, match="q_max"):
            plots.cobweb_figure([dict(sigma_w2=1.0)], q_max=-1.0)


class TestCriticalBoundaryFigure:
    def test_line_and_points(self):
        points = [dict(sigma_w2=1.2, noise=Dropout(0.6), label="dropout"), dict(sigma_w2=2.0, label="He")]
        fig = plots.critical_boundary_figure((1.0, 2.0), points=points)
        ax = fig.axes[0]
        (line,) = [line for line in ax.get_lines() if "critical" in line.get_label()]
        mu2, sigma_w2 = line.get_data()
        assert mu2[0] == pytest.approx(1.0) and mu2[-1] == pytest.approx(2.0)
        assert sigma_w2 == pytest.approx(2.0 / mu2)
        (dot,) = lines_with_label(ax, "dropout")
        assert dot.get_data()[0][0] == pytest.approx(1 / 0.6)
        assert len(ax.collections) == 2  # the two shaded regions

    def test_bad_input(self):
        with pytest.raises(InvalidParameterError, match="mu2_range"):
            plots.critical_boundary_figure((2.0, 1.0))
        with pytest.raises(InvalidParameterError, match="mu2_range"):
            plots.critical_boundary_figure((0.5, 2.0))
        with pytest.raises(InvalidParameterError, match="additive"):
            plots.critical_boundary_figure(points=[dict(sigma_w2=2.0, noise=AdditiveGaussian(1.0))])


class TestFailureDepthFigure:
    def test_theory_curve(self):
        fig = plots.failure_depth_figure(Dropout(0.6), [0.5, 2.0])
        assert len(fig.axes) == 1
        (line,) = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("theory")]
        sigma_w2, depth = line.get_data()
        factor = sigma_w2 * (1 / 0.6) / 2
        expected = np.log(np.where(factor > 1, F32_MAX, F32_TINY)) / np.log(factor)
        assert depth == pytest.approx(expected)

    def test_simulated_failure_matches_theory(self):
        fig = plots.failure_depth_figure(Dropout(0.6), [0.3, 2.5], simulate_sigma_w2=[0.3, 2.5], n_inputs=4, width=200,
                                         device="cpu")
        assert len(fig.axes) == 2
        circles = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o" and len(line.get_xdata())]
        assert len(circles) == 2
        for circle in circles:
            sw, first = circle.get_xdata()[0], circle.get_ydata()[0]
            predicted = theory.failure_depth(Dropout(0.6), sw)
            # float32 fails when the largest unit's square overflows, a few layers before the mean does
            assert abs(first - predicted) <= 0.1 * predicted, (sw, first, predicted)

    def test_bad_input(self):
        with pytest.raises(InvalidParameterError, match="multiplicative"):
            plots.failure_depth_figure(AdditiveGaussian(1.0))
        with pytest.raises(InvalidParameterError, match="off criticality"):
            plots.failure_depth_figure(Dropout(0.6), simulate_sigma_w2=[1.2], width=10)
        with pytest.raises(InvalidParameterError, match="sigma_w2_values"):
            plots.failure_depth_figure(Dropout(0.6), [0.0, 1.0])


# ------------------------------------------------------------------------------------------------
# plots.noise
# ------------------------------------------------------------------------------------------------
class TestNoiseFigures:
    def test_sample_moments_near_mu2(self):
        families = [Dropout(np.array([0.5, 1.0])), MultiplicativeGaussian(np.array([0.0, 1.0])),
                    AdditiveLaplace(np.array([0.5]))]
        fig = plots.noise_moments_figure([Dropout(0.5), MultiplicativePoisson(1.0)], families, n_samples=4000)
        ax_a, ax_b = fig.axes
        assert len(ax_a.get_lines()) == 2
        # one errorbar container per family; x = model's mu2 (or variance), y = sample second moment
        targets = {0: [2.0, 1.0], 1: [1.0, 2.0], 2: [0.5]}
        assert len(ax_b.containers) == 3
        for k, container in enumerate(ax_b.containers):
            x, y = container.lines[0].get_data()
            assert x == pytest.approx(targets[k])
            assert y == pytest.approx(targets[k], rel=0.15)

    def test_preactivation_gaussianity(self):
        fig = plots.preactivation_distribution_figure(Dropout(0.6), widths=(1, 1000), n_samples=3000)
        kurtosis = [_kurtosis(ax.get_title()) for ax in fig.axes]
        assert kurtosis[0] > 1.0  # a single dropped-or-kept unit is far from Gaussian
        assert abs(kurtosis[1]) < 0.5  # a wide layer is close to Gaussian
        dashed = [line for line in fig.axes[1].get_lines() if line.get_linestyle() == "--"][0]
        x, density = dashed.get_data()
        var = 2.0 * (1 / 0.6) * 1.0 / 2.0  # sigma_w2 * mu2 * q0 / 2
        assert density.max() == pytest.approx(1 / np.sqrt(2 * np.pi * var))

    def test_preactivation_standardized_has_fixed_axes_and_dropout_kurtosis(self):
        """Slider of *Noisy networks*: same axes for every keep probability; excess kurtosis 3(1-p)/(pN)."""
        limits = set()
        for keep in (0.2, 1.0):
            fig = plots.preactivation_distribution_figure(Dropout(keep), widths=(10,), n_samples=4000, standardize=True)
            ax = fig.axes[0]
            limits.add((ax.get_xlim(), ax.get_ylim()))
            kurtosis = _kurtosis(ax.get_title())
            assert kurtosis == pytest.approx(3 * (1 - keep) / (keep * 10), abs=0.3)
            dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"][0]
            assert dashed.get_data()[1].max() == pytest.approx(1 / np.sqrt(2 * np.pi))  # standard Gaussian
        assert limits == {((-4.0, 4.0), (0.0, 1.6 / np.sqrt(2 * np.pi)))}

    def test_bad_input(self):
        with pytest.raises(InvalidParameterError, match="NoiseModel"):
            plots.noise_moments_figure([0.5], [Dropout([0.5])])
        with pytest.raises(InvalidParameterError, match="1-d"):
            plots.noise_moments_figure([Dropout(0.5)], [Dropout(0.5)])
        with pytest.raises(InvalidParameterError, match="n_samples"):
            plots.noise_moments_figure([Dropout(0.5)], [Dropout([0.5])], n_samples=1)
        with pytest.raises(InvalidParameterError, match="family"):
            plots.preactivation_distribution_figure(Dropout([0.5, 0.6]))
        with pytest.raises(InvalidParameterError, match="widths"):
            plots.preactivation_distribution_figure(Dropout(0.6), widths=(0,))
