"""Targets of the hostile sweep (tests/sweep.py) for the numeric modules (issue 15, phase 2).

theory, network, forward, simulate, fits, analysis, init, activations, device, widgets, plots, and
the model builders of train (grid_model, cell_network, cell_seed). Each public callable gets valid,
cheap baselines (tiny widths, few networks, few layers), the kinds of its numeric parameters, their
valid ranges (a value outside must be refused) and, for the theory, invariants of the result (a
variance is >= 0, a correlation lies in [-1, 1], a depth is >= 0, a bounded activation bounds the
variance map). Used by tests/test_sweep.py.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import torch

from nsp_helpers import (activations, analysis, device, fits, forward, gradient_runs, init, network, plots, reproduction, simulate,
                         theory, train, trainable_length, widgets)
from nsp_helpers.plots import huang as _huang  # noqa: F401 (plots.huang as an attribute)
from nsp_helpers.plots import style as _style  # noqa: F401
from nsp_helpers.network import NoisyNetwork
from nsp_helpers.noise import Dropout, MultiplicativeGaussian

from sweep import Target

INF = math.inf
MAX_INT = 2**63 - 1

#: short module names (as in the targets' names) -> modules whose public callables must all have a target
NUMERIC_MODULES = {
    "theory": theory,
    "network": network,
    "forward": forward,
    "simulate": simulate,
    "fits": fits,
    "analysis": analysis,
    "init": init,
    "activations": activations,
    "device": device,
    "widgets": widgets,
    **{f"plots.{m}": getattr(plots, m) for m in ("correlation", "depth", "gradients", "noise", "training", "variance",
                                                  "variance_depth", "style", "huang")},
    "gradient_runs": gradient_runs,
    "trainable_length": trainable_length,
    "reproduction": reproduction,
}

#: public callables without numeric parameters a user passes, or result containers the package builds
NUMERIC_NOT_SWEPT = [
    "theory.GradientSlopes", "theory.LinearClosedForms", "theory.DepthScaleRidge",
    "forward.ForwardResult",
    "simulate.CorrelationDynamicsResult", "simulate.CorrelationMapResult", "simulate.DepthScaleSimulation",
    "simulate.GradientStatistics", "simulate.Propagation", "simulate.VarianceDynamicsResult",
    "simulate.VarianceMapResult", "simulate.UniversalityFit", "simulate.scaled",
    "fits.DepthScaleFit", "fits.LogDecayFit",
    "analysis.RuleComparison",
    "device.default_device",
    "widgets.SliderFigure",
    "plots.gradients.pair_correlation_figure", "plots.gradients.universality_figure",
    "plots.gradients.linear_network_figure", "plots.variance_depth.variance_depth_figure",
    # result containers and what reads or writes whole stored runs (their paths are checked by check_path)
    "analysis.AgreementTest", "analysis.BoundarySummary", "analysis.DepthMultipleFit", "analysis.FiniteWidthSpread",
    "analysis.SeedGrid", "analysis.SpreadAtDepartures", "analysis.MultipleFit", "analysis.TrainableLengthComparison",
    "simulate.LogQAgreement", "simulate.LogQSimulation",
    "gradient_runs.RateFit", "gradient_runs.PowerLawFit", "gradient_runs.SpreadFit", "gradient_runs.run",
    "gradient_runs.results_dir", "gradient_runs.main",
    "trainable_length.results_dir", "trainable_length.main", "trainable_length.write_published_fits",
    "reproduction.Entry", "reproduction.report_table", "reproduction.status_counts",
    "plots.style.BookFigure", "plots.style.figure_function", "plots.style.finish", "plots.style.style_context",
    "plots.style.legend_below",
    # figures of stored runs (dicts of GradientRun objects and fits; their numbers are the runs')
    "plots.huang.tied_pairs_figure", "plots.huang.linear_excess_figure", "plots.huang.tied_universality_figure",
    "plots.huang.trainable_length_maps_figure",
]

# ------------------------------------------------------------------------------------------------
# invariants of theory results
# ------------------------------------------------------------------------------------------------
_POS = (0.0, INF, True)
_NONNEG = (0.0, INF)
_CORR = (-1.0, 1.0)
_UNIT_OPEN_LOW = (0.0, 1.0, True)


def _values(result) -> np.ndarray:
    return np.asarray(result, dtype=float)


def _in(low, high, what):
    def check(kwargs, result):
        v = _values(result)
        bad = v[(v < low) | (v > high)]
        return f"{what} {bad.ravel()[0]!r} outside [{low}, {high}]" if bad.size else None

    return check


def _nonneg(what):
    return _in(0.0, INF, what)


def _mu2(kwargs) -> float:
    noise = kwargs.get("noise")
    return float(np.max(noise.mu2)) if hasattr(noise, "mu2") else 1.0


def _variance_map_check(kwargs, result):
    """0 <= V(q), and V(q) <= sigma_w2 (mu2 min(q, 1) + sigma_eps^2) + sigma_b2 for tanh and hard tanh."""
    v = _values(result)
    if np.any(v < 0):
        return f"variance {v[v < 0].ravel()[0]!r} < 0"
    if kwargs.get("activation") in ("tanh", "hard_tanh") and kwargs.get("sigma_w2") is not None:
        try:
            sw = np.asarray(kwargs["sigma_w2"], dtype=float)
            sb = np.asarray(0.0 if kwargs.get("sigma_b2") is None else kwargs["sigma_b2"], dtype=float)
            q = np.asarray(kwargs["q"], dtype=float)
            noise = kwargs["noise"]
            bound = sw * (np.asarray(noise.mu2) * np.minimum(q, 1.0) + np.asarray(noise.additive_variance)) + sb
        except (TypeError, ValueError, AttributeError):
            return None
        with np.errstate(invalid="ignore"):
            over = v > bound * (1 + 1e-9) + 1e-300
        if np.any(over):
            return f"variance {v[over].ravel()[0]!r} above the bound {np.broadcast_to(bound, v.shape)[over].ravel()[0]!r}"
    return None


def _iterate_variance_check(kwargs, result):
    v = _values(result)
    return f"variance {v[v < 0].ravel()[0]!r} < 0" if np.any(v < 0) else None


def _slopes_check(kwargs, result):
    values = [result.chi_single, result.chi_pair, result.q_star, result.c_star]
    if any(isinstance(v, float) and v < 0 for v in values[:3]):
        return f"negative slope or variance in {result}"
    if not -1.0 <= result.c_star <= 1.0:
        return f"c_star {result.c_star} outside [-1, 1]"
    return None


def _ridge_check(kwargs, result):
    if np.any(_values(result.depth_scale) < 0) or np.any(np.abs(_values(result.c_star)) > 1):
        return f"negative depth scale or |c*| > 1 in {result}"
    return None


# ------------------------------------------------------------------------------------------------
# theory
# ------------------------------------------------------------------------------------------------
_ACTIVATION_BASELINES = {
    "relu": dict(noise=Dropout(0.8), sigma_w2=1.5, sigma_b2=0.1, activation="relu"),
    "tanh": dict(noise=Dropout(0.8), sigma_w2=1.4, sigma_b2=0.1, activation="tanh"),
    "hard_tanh": dict(noise=Dropout(0.8), sigma_w2=1.4, sigma_b2=0.1, activation="hard_tanh"),
    "linear": dict(noise=Dropout(0.8), sigma_w2=0.9, sigma_b2=0.1, activation="linear"),
}
_NETWORK_KINDS = dict(noise="object", sigma_w2="reals", sigma_b2="reals", activation="choice")
_NETWORK_RANGES = dict(sigma_w2=_POS, sigma_b2=_NONNEG)


def _theory(name, state: dict, kinds: dict, ranges: dict, check=None, activations_=("relu", "tanh", "hard_tanh", "linear"),
            network_kinds=None, none_ok=(), nan_ok=None):
    fn = getattr(theory, name)
    out = []
    for act in activations_:
        base = dict(state, **_ACTIVATION_BASELINES[act])
        params = dict(kinds, **(network_kinds or _NETWORK_KINDS))
        out.append(Target(f"theory.{name}[{act}]", fn, base, params=params, ranges=dict(ranges, **_NETWORK_RANGES),
                          none_ok=("sigma_w2", "sigma_b2") + tuple(none_ok), check=check, nan_ok=(nan_ok or {}).get(act, "")))
    return out


def _noise_level(fn, family, param, ranges, activation="relu", sigma_w2=None, sigma_b2=None, **extra):
    """A theory function of one noise model built from its parameter (the extremes of the noise)."""

    def call(**kw):
        value = kw.pop(param)
        return fn(noise=family(value), **kw)

    base = dict(extra, sigma_w2=sigma_w2, sigma_b2=sigma_b2, activation=activation)
    if "sigma_w2" not in inspect.signature(fn).parameters:
        del base["sigma_w2"]
    base[param] = {"keep_prob": 0.8, "std": 0.5}[param]
    return call, base, {param: "reals"}, {param: ranges}


def _noise_targets(name, check=None, activations_=("relu", "tanh"), **extra):
    out = []
    fn = getattr(theory, name)
    for act in activations_:
        sw, sb = (None, None) if act == "relu" else (1.4, 0.1)
        for family, param, rng in ((Dropout, "keep_prob", _UNIT_OPEN_LOW), (MultiplicativeGaussian, "std", _NONNEG)):
            call, base, params, ranges = _noise_level(fn, family, param, rng, act, sw, sb, **extra)
            seen = None if check is None else (lambda family, param: lambda kw, result: check(
                dict(kw, noise=family(kw[param])), result))(family, param)
            out.append(Target(f"theory.{name}[{act}, {family.__name__}({param})]", call, base, params=params, ranges=ranges,
                              check=seen, names={param: (param, "noise", "mu2")}))
    return out


def theory_targets() -> dict:
    T = Target
    corr_check = _in(-1.0, 1.0, "correlation")
    out = {
        "theory.gaussian_expectation": [T("theory.gaussian_expectation", theory.gaussian_expectation,
                                          dict(f="tanh", q=1.0, n_nodes=None), params={"f": "choice", "q": "reals", "n_nodes": "int"},
                                          ranges={"q": _NONNEG, "n_nodes": (3, MAX_INT)}, none_ok=("n_nodes",))],
        "theory.bivariate_gaussian_expectation": [T("theory.bivariate_gaussian_expectation", theory.bivariate_gaussian_expectation,
                                                    dict(f="tanh", g="tanh", q=1.0, c=0.5, n_nodes=None),
                                                    params={"f": "choice", "g": "choice", "q": "reals", "c": "reals", "n_nodes": "int"},
                                                    ranges={"q": _NONNEG, "c": _CORR, "n_nodes": (3, MAX_INT)}, none_ok=("n_nodes",))],
        "theory.critical_parameters": [
            T("theory.critical_parameters[relu]", theory.critical_parameters, dict(noise=Dropout(0.8), activation="relu", sigma_b2=None),
              params={"noise": "object", "activation": "choice", "sigma_b2": "real"}, none_ok=("sigma_b2",), ranges={"sigma_b2": (0.0, 0.0)}),
            T("theory.critical_parameters[tanh]", theory.critical_parameters, dict(noise=Dropout(0.8), activation="tanh", sigma_b2=0.05),
              params={"sigma_b2": "real"}, none_ok=("sigma_b2",), ranges={"sigma_b2": _NONNEG}),
        ] + _noise_targets("critical_parameters", activations_=("relu",)),
        "theory.critical_weight_variance": [T("theory.critical_weight_variance", theory.critical_weight_variance,
                                              dict(noise=Dropout(0.8), activation="relu"), params={"noise": "object", "activation": "choice"})],
        "theory.variance_map": _theory("variance_map", dict(q=1.0), {"q": "reals"}, {"q": _NONNEG}, _variance_map_check)
        + _noise_targets("variance_map", _variance_map_check, q=1.0),
        "theory.variance_slope": _theory("variance_slope", dict(q=1.0), {"q": "reals"}, {"q": _NONNEG}, _nonneg("slope"), none_ok=("q",)),
        "theory.variance_fixed_point": _theory("variance_fixed_point", dict(q0=1.0), {"q0": "reals"}, {"q0": _NONNEG}, _nonneg("q*")),
        "theory.iterate_variance": _theory("iterate_variance", dict(q0=1.0, n_layers=3), {"q0": "reals", "n_layers": "int"},
                                           {"q0": _NONNEG, "n_layers": (0, MAX_INT)}, _iterate_variance_check),
        "theory.failure_depth": _theory("failure_depth", dict(q0=1.0), {"q0": "reals"}, {"q0": _POS}, _nonneg("failure depth"),
                                        activations_=("relu", "linear"))
        + _noise_targets("failure_depth", _nonneg("failure depth"), activations_=("relu",), q0=1.0),
        "theory.correlation_map": _theory("correlation_map", dict(c=0.5, q=1.0), {"c": "reals", "q": "reals"},
                                          {"c": _CORR, "q": _POS}, corr_check, none_ok=("q",))
        + _noise_targets("correlation_map", corr_check, c=0.5),
        "theory.correlation_slope": _theory("correlation_slope", dict(c=0.5, q=1.0), {"c": "reals", "q": "reals"},
                                            {"c": _CORR, "q": _POS}, _nonneg("slope"), none_ok=("q",))
        + _noise_targets("correlation_slope", _nonneg("slope"), c=0.5),
        "theory.correlation_fixed_point": _theory("correlation_fixed_point", {}, {}, {}, corr_check)
        + _noise_targets("correlation_fixed_point", corr_check),
        "theory.iterate_correlation": _theory("iterate_correlation", dict(c0=0.5, n_layers=3, q0=1.0),
                                              {"c0": "reals", "n_layers": "int", "q0": "reals"},
                                              {"c0": _CORR, "n_layers": (0, MAX_INT), "q0": _POS}, corr_check, none_ok=("q0",)),
        "theory.depth_scale": _theory("depth_scale", {}, {}, {}, _nonneg("depth scale"))
        + _noise_targets("depth_scale", _nonneg("depth scale"), activations_=("relu", "tanh", "linear")),
        "theory.gradient_slope": _theory("gradient_slope", {}, {}, {}, _nonneg("chi_1"))
        + _noise_targets("gradient_slope", _nonneg("chi_1")),
        "theory.gradient_depth_scale": _theory("gradient_depth_scale", {}, {}, {}, _nonneg("depth scale")),
        "theory.gradient_slopes": _theory("gradient_slopes", {}, {}, {}, _slopes_check,
                                          network_kinds=dict(noise="object", sigma_w2="real", sigma_b2="real", activation="choice"),
                                          nan_ok={"linear": "q_star of a scale-free linear network is NaN (documented)"}),
        "theory.linear_network_closed_forms": [T("theory.linear_network_closed_forms", theory.linear_network_closed_forms,
                                                 dict(noise=Dropout(0.8), sigma_w2=0.7, sigma_b2=0.1),
                                                 params={"noise": "object", "sigma_w2": "real", "sigma_b2": "real"},
                                                 ranges={"sigma_w2": (0.0, 0.8, True, True), "sigma_b2": _POS})],
        "theory.linear_network_depth_scale": [T("theory.linear_network_depth_scale", theory.linear_network_depth_scale,
                                                dict(noise=Dropout(0.8)), params={"noise": "object"}, check=_nonneg("depth scale"))]
        + [T(f"theory.linear_network_depth_scale[{fam.__name__}({p})]", (lambda fam, p: lambda **kw: theory.linear_network_depth_scale(fam(kw[p])))(fam, p),
             {p: v}, params={p: "reals"}, ranges={p: r}, check=_nonneg("depth scale"))
           for fam, p, v, r in ((Dropout, "keep_prob", 0.8, _UNIT_OPEN_LOW), (MultiplicativeGaussian, "std", 0.5, _NONNEG))],
        "theory.depth_scale_map": [T(f"theory.depth_scale_map[{act}]", theory.depth_scale_map,
                                     dict(noise=Dropout(0.8), sigma_w2=[1.0, 2.0], sigma_b2=[0.1], activation=act),
                                     params={"noise": "object", "sigma_w2": "reals", "sigma_b2": "reals", "activation": "choice"},
                                     ranges={"sigma_w2": _POS, "sigma_b2": _NONNEG}, check=_nonneg("depth scale"))
                                   for act in ("relu", "tanh")],
        "theory.noiseless_edge_of_chaos": [T(f"theory.noiseless_edge_of_chaos[{act}]", theory.noiseless_edge_of_chaos,
                                             dict(sigma_b2=0.1, activation=act, sigma_w2_bounds=(0.5, 20.0)),
                                             params={"sigma_b2": "reals", "activation": "choice", "sigma_w2_bounds": "pair"},
                                             ranges={"sigma_b2": _NONNEG, "sigma_w2_bounds": _POS}, check=_nonneg("sigma_w2"))
                                           for act in ("relu", "tanh")],
        "theory.maximise_depth_scale": [T(f"theory.maximise_depth_scale[{act}]", theory.maximise_depth_scale,
                                          dict(noise=MultiplicativeGaussian(0.5), sigma_b2=[0.05], activation=act,
                                               sigma_w2_bounds=(0.05, 6.0), n_grid=6, n_iter=3),
                                          params={"noise": "object", "sigma_b2": "reals", "activation": "choice",
                                                  "sigma_w2_bounds": "pair", "n_grid": "int", "n_iter": "int"},
                                          ranges={"sigma_b2": _NONNEG, "sigma_w2_bounds": _POS, "n_grid": (3, MAX_INT),
                                                  "n_iter": (0, MAX_INT)}, check=_ridge_check)
                                        for act in ("relu", "tanh")],
    }
    return out


# ------------------------------------------------------------------------------------------------
# network, forward
# ------------------------------------------------------------------------------------------------
def _net(**kw):
    return NoisyNetwork(**dict(dict(noise=Dropout(0.8), sigma_w2=1.5, width=8, n_layers=2), **kw))


def network_targets() -> dict:
    T = Target
    net = _net()
    family = _net(noise=Dropout([0.5, 0.8]))
    method = lambda name: (lambda **kw: getattr(net, name)(**kw))  # noqa: E731
    size = {"width": (1, MAX_INT), "n_layers": (0, MAX_INT), "input_width": (1, MAX_INT), "output_width": (1, MAX_INT)}
    return {
        "network.NoisyNetwork": [T("network.NoisyNetwork", NoisyNetwork,
                                   dict(noise=Dropout(0.8), sigma_w2=1.5, sigma_b2=0.1, activation="relu", width=8, n_layers=2,
                                        input_width=4, output_width=3, input_activation=True, noise_on_input=True, weights="gaussian"),
                                   params={"noise": "object", "sigma_w2": "reals", "sigma_b2": "reals", "activation": "choice",
                                           "width": "int", "n_layers": "int", "input_width": "int", "output_width": "int",
                                           "input_activation": "bool", "noise_on_input": "bool", "weights": "choice"},
                                   none_ok=("sigma_w2", "sigma_b2", "input_width", "output_width"),
                                   ranges=dict(size, sigma_w2=_POS, sigma_b2=_NONNEG))],
        "network.NoisyNetwork.critical_for": [T("network.NoisyNetwork.critical_for", NoisyNetwork.critical_for,
                                                dict(noise=Dropout(0.8), activation="relu", sigma_b2=None, width=8),
                                                params={"noise": "object", "activation": "choice", "sigma_b2": "real", "width": "int"},
                                                none_ok=("noise", "sigma_b2"), ranges={"sigma_b2": (0.0, 0.0), "width": (1, MAX_INT)})],
        "network.as_network": [T("network.as_network", network.as_network,
                                 dict(noise=Dropout(0.8), sigma_w2=1.5, sigma_b2=0.1, activation="relu", width=8, n_layers=2),
                                 params={"noise": "object", "sigma_w2": "reals", "sigma_b2": "reals", "activation": "choice",
                                         "width": "int", "n_layers": "int"},
                                 none_ok=("noise", "sigma_w2", "sigma_b2", "activation"), ranges=dict(size, sigma_w2=_POS, sigma_b2=_NONNEG))],
        "network.NoisyNetwork.variance_map": [T("network.NoisyNetwork.variance_map", method("variance_map"), dict(q=1.0),
                                                params={"q": "reals"}, ranges={"q": _NONNEG})],
        "network.NoisyNetwork.iterate_variance": [T("network.NoisyNetwork.iterate_variance", method("iterate_variance"),
                                                    dict(q0=1.0, n_layers=3), params={"q0": "reals", "n_layers": "int"},
                                                    none_ok=("n_layers",), ranges={"q0": _NONNEG, "n_layers": (0, MAX_INT)})],
        "network.NoisyNetwork.correlation_map": [T("network.NoisyNetwork.correlation_map", method("correlation_map"), dict(c=0.5, q=1.0),
                                                   params={"c": "reals", "q": "reals"}, none_ok=("q",), ranges={"c": _CORR, "q": _POS})],
        "network.NoisyNetwork.iterate_correlation": [T("network.NoisyNetwork.iterate_correlation", method("iterate_correlation"),
                                                       dict(c0=0.5, n_layers=3, q0=1.0), params={"c0": "reals", "n_layers": "int", "q0": "reals"},
                                                       none_ok=("n_layers", "q0"), ranges={"c0": _CORR, "n_layers": (0, MAX_INT), "q0": _POS})],
        "network.NoisyNetwork.variance_slope": [T("network.NoisyNetwork.variance_slope", method("variance_slope"), dict(q=1.0),
                                                  params={"q": "reals"}, none_ok=("q",), ranges={"q": _NONNEG})],
        "network.NoisyNetwork.variance_fixed_point": [T("network.NoisyNetwork.variance_fixed_point", method("variance_fixed_point"),
                                                        dict(q0=1.0), params={"q0": "reals"}, ranges={"q0": _NONNEG})],
        "network.NoisyNetwork.correlation_slope": [T("network.NoisyNetwork.correlation_slope", method("correlation_slope"),
                                                     dict(c=0.5, q=1.0), params={"c": "reals", "q": "reals"}, none_ok=("c", "q"),
                                                     ranges={"c": _CORR, "q": _POS})],
        "network.NoisyNetwork.replace": [T("network.NoisyNetwork.replace", method("replace"), dict(width=4, n_layers=3),
                                           params={"width": "int", "n_layers": "int"}, ranges={"width": (1, MAX_INT), "n_layers": (0, MAX_INT)})],
        "network.NoisyNetwork.__getitem__": [T("network.NoisyNetwork.__getitem__", family.__getitem__, dict(index=1),
                                               params={"index": "int"}, ranges={"index": (-2, 1)})],
        "network.NoisyNetwork.module": [T("network.NoisyNetwork.module", method("module"), dict(seed=0, n_networks=2, device="cpu"),
                                          params={"seed": "int", "n_networks": "int"}, ranges={"seed": (0, MAX_INT), "n_networks": (1, MAX_INT)})],
        "network.NoisyNetwork.forward": [T("network.NoisyNetwork.forward", method("forward"),
                                           dict(x=np.ones((3, 8)), seed=0, n_networks=2, train=True, device="cpu"),
                                           params={"x": "reals", "seed": "int", "n_networks": "int", "train": "bool"},
                                           ranges={"seed": (0, MAX_INT), "n_networks": (1, MAX_INT)})],
    }


def forward_targets() -> dict:
    T = Target
    net = _net()
    readout = _net(input_width=4, output_width=3, input_activation=False)
    model = forward.NoisyMLP.from_network(readout, n_networks=2, device="cpu")
    seeds = {"seed": (0, MAX_INT), "n_networks": (1, MAX_INT), "chunk_bytes": (1, MAX_INT)}

    def draw(which):
        fn = forward.draw_weights_ if which == "weights" else forward.draw_biases_
        return lambda network_seed, layer, std: fn(torch.empty(3, 4), network_seed, layer, std)

    return {
        "forward.forward": [T("forward.forward", forward.forward,
                              dict(network=net, x=np.ones((3, 8)), seed=0, n_networks=2, train=True, method="auto", device="cpu",
                                   chunk_bytes=2**20, keep_preactivations=False, keep_weights=False, record_noise=False, grad=False,
                                   keep_output=True),
                              params={"network": "object", "x": "reals", "seed": "int", "n_networks": "int", "train": "bool",
                                      "method": "choice", "chunk_bytes": "int", "keep_preactivations": "bool", "keep_weights": "bool",
                                      "record_noise": "bool", "grad": "bool", "keep_output": "bool"}, ranges=seeds)],
        "forward.NoisyMLP": [T("forward.NoisyMLP", forward.NoisyMLP, dict(networks=[readout, readout], seeds=[1, 2], device="cpu"),
                               params={"networks": "object", "seeds": "ints"}, ranges={"seeds": (0, MAX_INT)})],
        "forward.NoisyMLP.from_network": [T("forward.NoisyMLP.from_network", forward.NoisyMLP.from_network,
                                            dict(network=readout, seed=0, n_networks=2, device="cpu"),
                                            params={"network": "object", "seed": "int", "n_networks": "int"}, ranges=seeds)],
        "forward.NoisyMLP.forward": [T("forward.NoisyMLP.forward", lambda x, train, generator: model(x, train=train, generator=generator),
                                       dict(x=np.ones((5, 4)), train=True, generator=0),
                                       params={"x": "reals", "train": "bool", "generator": "int"}, none_ok=("generator",),
                                       ranges={"generator": (0, MAX_INT)})],
        "forward.run_networks": [T("forward.run_networks", forward.run_networks,
                                   dict(networks=[net, net], seeds=[7, 7], x=np.ones((3, 8)), noise_seed=(0, 1), train=True, device="cpu"),
                                   params={"networks": "object", "seeds": "ints", "x": "reals", "noise_seed": "ints", "train": "bool"},
                                   ranges={"seeds": (0, MAX_INT), "noise_seed": (0, MAX_INT)})],
        "forward.network_seeds": [T("forward.network_seeds", lambda seed, n_networks, tag: forward.network_seeds(seed, n_networks, tag),
                                    dict(seed=0, n_networks=3, tag=5), params={"seed": "int", "n_networks": "int", "tag": "int"},
                                    names={"tag": ("tags",)}, ranges={"seed": (0, MAX_INT), "n_networks": (1, MAX_INT), "tag": (0, MAX_INT)})],
        "forward.draw_weights_": [T("forward.draw_weights_", draw("weights"), dict(network_seed=3, layer=1, std=0.5),
                                    params={"network_seed": "int", "layer": "int", "std": "real"},
                                    ranges={"network_seed": (0, MAX_INT), "layer": (0, MAX_INT), "std": _NONNEG})],
        "forward.draw_biases_": [T("forward.draw_biases_", draw("biases"), dict(network_seed=3, layer=1, std=0.5),
                                   params={"network_seed": "int", "layer": "int", "std": "real"},
                                   ranges={"network_seed": (0, MAX_INT), "layer": (0, MAX_INT), "std": _NONNEG})],
    }


# ------------------------------------------------------------------------------------------------
# simulate, fits, analysis
# ------------------------------------------------------------------------------------------------
_SIM_NET = dict(noise=Dropout(0.8), sigma_w2=1.5, sigma_b2=0.1, activation="relu")
_SIM_KINDS = dict(noise="object", sigma_w2="reals", sigma_b2="reals", activation="choice")
_SIM_RANGES = dict(sigma_w2=_POS, sigma_b2=_NONNEG, seed=(0, MAX_INT), n_networks=(1, MAX_INT), n_inputs=(1, MAX_INT),
                   n_pairs=(1, MAX_INT), width=(1, MAX_INT), n_layers=(0, MAX_INT))
_SIM_NONE = ("noise", "sigma_w2", "sigma_b2", "activation", "width")
#: the simulator reports float32 over- and underflow as inf, 0 and NaN and never clips (Pretorius et al.'s Fig. 6a)
_FLOAT32 = "float32 over- or underflow is reported as inf, 0 and NaN (documented; the simulator never clips)"


def simulate_targets() -> dict:
    T = Target
    small = dict(width=16, seed=0, device="cpu", method="auto")
    common = dict(_SIM_KINDS, width="int", seed="int", method="choice")
    stats = simulate.gradient_statistics(Dropout(0.9), 1.4, 0.1, "tanh", n_layers=3, width=8, n_networks=3, device="cpu")
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    return {
        "simulate.propagate": [T("simulate.propagate", simulate.propagate,
                                 dict(h0=np.ones((3, 16)), **_SIM_NET, n_layers=2, n_networks=2, pairs=[[0, 1]], seed=0, device="cpu",
                                      keep_activations=False, chunk_bytes=2**20, method="auto"),
                                 params=dict(_SIM_KINDS, h0="reals", n_layers="int", n_networks="int", pairs="ints", seed="int",
                                             keep_activations="bool", chunk_bytes="int", method="choice"),
                                 none_ok=_SIM_NONE + ("n_networks", "pairs"), ranges=dict(_SIM_RANGES, pairs=(0, 2), chunk_bytes=(1, MAX_INT)), nan_ok=_FLOAT32)],
        "simulate.inputs_with_variance": [T("simulate.inputs_with_variance", simulate.inputs_with_variance,
                                            dict(q0=[1.0, 2.0], n_inputs=2, width=8, seed=0), ranges=dict(_SIM_RANGES, q0=_NONNEG),
                                            params={"q0": "reals", "n_inputs": "int", "width": "int", "seed": "int"})],
        "simulate.input_pairs": [T("simulate.input_pairs", simulate.input_pairs, dict(c0=[0.0, 0.5], q0=2.0, n_pairs=2, width=8, seed=0),
                                   params={"c0": "reals", "q0": "real", "n_pairs": "int", "width": "int", "seed": "int"},
                                   ranges=dict(_SIM_RANGES, c0=_CORR, q0=_POS, width=(2, MAX_INT)))],
        "simulate.simulate_variance_map": [T("simulate.simulate_variance_map", simulate.simulate_variance_map,
                                             dict(q0_values=[1.0, 2.0], **_SIM_NET, n_inputs=2, n_networks=2, **small),
                                             params=dict(common, q0_values="reals", n_inputs="int", n_networks="int"),
                                             none_ok=_SIM_NONE, ranges=dict(_SIM_RANGES, q0_values=_NONNEG), nan_ok=_FLOAT32)],
        "simulate.simulate_variance_dynamics": [T("simulate.simulate_variance_dynamics", simulate.simulate_variance_dynamics,
                                                  dict(q0=1.0, n_layers=2, **_SIM_NET, n_inputs=2, n_networks=2, **small),
                                                  params=dict(common, q0="reals", n_layers="int", n_inputs="int", n_networks="int"),
                                                  none_ok=_SIM_NONE, ranges=dict(_SIM_RANGES, q0=_NONNEG), nan_ok=_FLOAT32)],
        "simulate.simulate_correlation_map": [T("simulate.simulate_correlation_map", simulate.simulate_correlation_map,
                                                dict(c0_values=[0.0, 0.5], q0=1.0, **_SIM_NET, n_pairs=2, n_networks=2, **small),
                                                params=dict(common, c0_values="reals", q0="real", n_pairs="int", n_networks="int"),
                                                none_ok=_SIM_NONE, ranges=dict(_SIM_RANGES, c0_values=_CORR, q0=_POS), nan_ok=_FLOAT32)],
        "simulate.simulate_correlation_dynamics": [T("simulate.simulate_correlation_dynamics", simulate.simulate_correlation_dynamics,
                                                     dict(c0=0.5, n_layers=2, q0=1.0, **_SIM_NET, n_pairs=2, n_networks=2, **small),
                                                     params=dict(common, c0="reals", n_layers="int", q0="real", n_pairs="int", n_networks="int"),
                                                     none_ok=_SIM_NONE, ranges=dict(_SIM_RANGES, c0=_CORR, q0=_POS), nan_ok=_FLOAT32)],
        "simulate.simulate_depth_scale": [T("simulate.simulate_depth_scale", simulate.simulate_depth_scale,
                                            dict(noise=Dropout(0.6), sigma_w2=None, sigma_b2=None, activation="relu", c0=1.0, n_layers=3,
                                                 target=3e-3, n_pairs=2, n_networks=2, z=3.0, **dict(small, width=32)),
                                            params=dict(common, c0="reals", n_layers="int", target="real", n_pairs="int", n_networks="int",
                                                        z="real"),
                                            none_ok=_SIM_NONE + ("n_layers",),
                                            ranges=dict(_SIM_RANGES, c0=_CORR, target=(0.0, 1.0, True), z=_POS, n_layers=(1, MAX_INT),
                                                        n_networks=(2, MAX_INT)),
                                            nan_ok="a fit of fewer than two usable layers is NaN (LogDecayFit, documented)")],
        "simulate.gradient_statistics": [T("simulate.gradient_statistics", simulate.gradient_statistics,
                                           dict(noise=Dropout(0.9), sigma_w2=1.4, sigma_b2=0.1, activation="tanh", n_layers=2, width=4,
                                                n_networks=2, n_pairs=1, backward="tied", seed=0, device="cpu", keep_tensors=False,
                                                chunk_bytes=2**20, cpu_threads=1),
                                           params=dict(_SIM_KINDS, sigma_w2="real", sigma_b2="real", n_layers="int", width="int",
                                                       n_networks="int", n_pairs="int", backward="choice", seed="int", keep_tensors="bool",
                                                       chunk_bytes="int", cpu_threads="int"),
                                           none_ok=_SIM_NONE + ("cpu_threads",),
                                           ranges=dict(_SIM_RANGES, n_layers=(1, MAX_INT), width=(2, MAX_INT), chunk_bytes=(1, MAX_INT),
                                                       cpu_threads=(1, MAX_INT)), nan_ok=_FLOAT32)],
        "simulate.universality": [T("simulate.universality", simulate.universality, dict(stats=stats, statistic="g_aa"),
                                    params={"stats": "object", "statistic": "choice"})],
        "simulate.GradientStatistics.fit": [T("simulate.GradientStatistics.fit", stats.fit,
                                              dict(statistic="g_aa", first_layer=1, last_layer=3),
                                              params={"statistic": "choice", "first_layer": "int", "last_layer": "int"},
                                              none_ok=("last_layer",), ranges={"first_layer": (1, 2), "last_layer": (2, 3)})],
        "simulate.preactivation_second_moments": [T("simulate.preactivation_second_moments", simulate.preactivation_second_moments,
                                                    dict(model=mlp, inputs=np.ones((5, 4)), train=True, seed=0),
                                                    params={"model": "object", "inputs": "reals", "train": "bool", "seed": "int"},
                                                    none_ok=("seed",), ranges={"seed": (0, MAX_INT)})],
    }


def fits_targets() -> dict:
    T = Target
    rng = np.random.default_rng(0)
    layers = np.arange(8)
    c = (0.2 + 0.8 * 0.5**layers)[:, None, None] + 1e-4 * rng.standard_normal((8, 4, 5))
    line = fits.fit_log_decay([1, 2, 3], [0.5, 0.25, 0.12])
    window = dict(z=3.0, first_layer=1, min_points=2, start_fraction=0.37)
    window_kinds = dict(z="real", first_layer="int", min_points="int", start_fraction="real")
    window_ranges = dict(z=_POS, first_layer=(0, MAX_INT), min_points=(2, MAX_INT), start_fraction=(0.0, 1.0, True))
    return {
        "fits.fit_log_decay": [T("fits.fit_log_decay", fits.fit_log_decay, dict(layers=[1, 2, 3], deviation=[0.5, 0.25, 0.12], sigma_log=None),
                                 params={"layers": "reals", "deviation": "reals", "sigma_log": "reals"}, none_ok=("sigma_log",),
                                 ranges={"deviation": _POS, "sigma_log": _NONNEG})],
        "fits.fit_window": [T("fits.fit_window", fits.fit_window, dict(deviation=[0.5, 0.25, 0.12, 0.06], sem=[0.01] * 4, **window),
                              params=dict(window_kinds, deviation="reals", sem="reals"),
                              ranges=dict(window_ranges, deviation=_NONNEG, sem=_NONNEG, first_layer=(0, 3)))],
        "fits.fit_depth_scale": [T("fits.fit_depth_scale", fits.fit_depth_scale, dict(c=c, c_star=0.2, **window),
                                   params=dict(window_kinds, c="reals", c_star="real"),
                                   ranges=dict(window_ranges, c=_CORR, c_star=_CORR, first_layer=(0, 7)))],
        "fits.LogDecayFit.__call__": [T("fits.LogDecayFit.__call__", line, dict(layers=[1.0, 2.0]), params={"layers": "reals"})],
    }


def analysis_targets() -> dict:
    T = Target
    res = {"cells": [{"depth": d, "keep_prob": p, "train_loss": [0.01 if d < 10 * p else 0.1]}
                     for d in (2, 6, 10) for p in (0.5, 1.0)]}
    return {
        "analysis.depth_scale_boundary": [T("analysis.depth_scale_boundary", analysis.depth_scale_boundary,
                                            dict(keep_prob=[0.5, 1.0], multiple=6.0), params={"keep_prob": "reals", "multiple": "real"},
                                            ranges={"keep_prob": _UNIT_OPEN_LOW, "multiple": _POS})],
        "analysis.trainable_depth_rules": [T("analysis.trainable_depth_rules", analysis.trainable_depth_rules,
                                             dict(results=res, metric="train_loss", threshold=None, multiples=(6.0, 12.0)),
                                             params={"results": "object", "metric": "choice", "threshold": "real", "multiples": "reals"},
                                             none_ok=("threshold",), ranges={"multiples": _POS})],
    }


# ------------------------------------------------------------------------------------------------
# init, activations, device, widgets, train's model builders
# ------------------------------------------------------------------------------------------------
def misc_targets() -> dict:
    T = Target
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    def tiny(a):
        fig = Figure(figsize=(1, 1))
        fig.subplots().plot([0, 1], [0, a])
        return fig

    crit = dict(noise=Dropout(0.8), activation="relu", sigma_b2=None)
    crit_kinds = {"noise": "object", "activation": "choice", "sigma_b2": "real"}
    return {
        "init.as_noise_model": [T("init.as_noise_model", init.as_noise_model, dict(noise=Dropout(0.5), allow_family=False),
                                  params={"noise": "object", "allow_family": "bool"})],
        "init.critical_gain": [T("init.critical_gain", init.critical_gain, crit, params=crit_kinds, none_ok=("noise", "sigma_b2"),
                                 ranges={"sigma_b2": (0.0, 0.0)})],
        "init.critical_parameters": [T("init.critical_parameters", init.critical_parameters, crit, params=crit_kinds,
                                       none_ok=("noise", "sigma_b2"), ranges={"sigma_b2": (0.0, 0.0)})],
        "init.critical_init_": [T("init.critical_init_", init.critical_init_,
                                  dict(tensor_or_module=torch.nn.Linear(4, 3), **crit, generator=None),
                                  params=dict(crit_kinds, tensor_or_module="object", generator="object"),
                                  none_ok=("noise", "sigma_b2", "generator"), ranges={"sigma_b2": (0.0, 0.0)})],
        "activations.get_activation": [T("activations.get_activation", activations.get_activation, dict(activation="relu"),
                                         params={"activation": "choice"})],
        "activations.Activation": [T("activations.Activation", activations.Activation, dict(name="cube", fn=np.square, derivative=None),
                                     params={"name": "text", "fn": "object", "derivative": "object"}, none_ok=("derivative",))],
        "device.resolve_device": [T("device.resolve_device", device.resolve_device, dict(device="cpu"), params={"device": "choice"},
                                    none_ok=("device",))],
        "widgets.slider_figure": [T("widgets.slider_figure", widgets.slider_figure,
                                    dict(figure_fn=tiny, dpi=20, width=None, max_frames=60, live=False, live_steps=100, a=[1.0, 2.0]),
                                    params={"dpi": "real", "width": "int", "max_frames": "int", "live": "bool", "live_steps": "int",
                                            "a": "reals"},
                                    none_ok=("width", "live"), names={"a": ("'a'", "a ")},
                                    ranges={"dpi": (0.0, 600.0, True), "width": (1, 10_000), "max_frames": (1, MAX_INT),
                                            "live_steps": (1, MAX_INT)})],
        "widgets.render_png": [T("widgets.render_png", widgets.render_png, dict(fig=tiny(1.0), dpi=20),
                                 params={"fig": "object", "dpi": "real"}, ranges={"dpi": (0.0, 600.0, True)})],
        "train.grid_model": [
            T("train.grid_model", train.grid_model, dict(cells=[(1, 0.5), (2, 1.0)], d_in=4, d_out=3, width=8, seed=0, sigma_b2=0.0,
                                                         device="cpu"),
              params={"cells": "object", "d_in": "int", "d_out": "int", "width": "int", "seed": "int", "sigma_b2": "real"},
              ranges={"d_in": (1, MAX_INT), "d_out": (1, MAX_INT), "width": (1, MAX_INT), "seed": (0, MAX_INT), "sigma_b2": _NONNEG}),
            T("train.grid_model[cell]", lambda depth, keep_prob: train.grid_model([(depth, keep_prob)], 4, 3, 8, device="cpu"),
              dict(depth=2, keep_prob=0.5), params={"depth": "int", "keep_prob": "real"}, names={"depth": ("depth", "cells"),
                                                                                                 "keep_prob": ("keep_prob", "cells")},
              ranges={"depth": (0, MAX_INT), "keep_prob": _UNIT_OPEN_LOW}),
        ],
        "train.cell_network": [T("train.cell_network", train.cell_network, dict(depth=2, keep_prob=0.5, d_in=4, d_out=3, width=8, sigma_b2=0.0),
                                 ranges={"depth": (0, MAX_INT), "keep_prob": _UNIT_OPEN_LOW, "d_in": (1, MAX_INT), "d_out": (1, MAX_INT),
                                         "width": (1, MAX_INT), "sigma_b2": _NONNEG})],
        "train.cell_seed": [T("train.cell_seed", train.cell_seed, dict(seed=0, depth=2, keep_prob=0.5),
                              ranges={"seed": (0, MAX_INT), "depth": (0, MAX_INT), "keep_prob": (0.0, 1.0)})],
    }


# ------------------------------------------------------------------------------------------------
# plots (cheap baselines: tiny simulations, few points)
# ------------------------------------------------------------------------------------------------
def plots_targets() -> dict:
    T = Target
    from nsp_helpers.plots import correlation as pc, depth as pd, gradients as pg, noise as pn, training as pt, variance as pv
    from nsp_helpers.plots import variance_depth as pvd
    from nsp_helpers.variance_depth import run_variance_depth

    noise = Dropout(0.6)
    m = simulate.simulate_correlation_map([0.0, 0.5], 1.0, noise, 1.2, n_pairs=2, n_networks=2, width=16, device="cpu")
    d = simulate.simulate_correlation_dynamics([0.0, 0.9], 3, 1.0, noise, 1.2, n_pairs=2, n_networks=2, width=16, device="cpu")
    sim = simulate.simulate_depth_scale(Dropout(0.7), n_layers=3, n_pairs=2, n_networks=2, width=32, device="cpu")
    stats = simulate.gradient_statistics(Dropout(0.9), 1.4, 0.1, "tanh", n_layers=3, width=8, device="cpu")
    slopes = theory.gradient_slopes(Dropout(0.9), 1.4, 0.1, "tanh")
    ridge = theory.DepthScaleRidge(np.array([0.01, 0.1]), np.array([0.8, 1.5]), np.array([4.0, 2.5]), np.array([0.1, 0.5]),
                                   np.array([False, False]))
    vd = run_variance_depth(torch.rand(4, 10, generator=torch.Generator().manual_seed(0)), sigma_w2=[0.4, 2.4], width=16,
                            max_layers=20, device="cpu")
    train_res = {"config": {}, "cells": [{"depth": dd, "keep_prob": k, "val_loss": [0.2, 0.1 * dd * k]}
                                         for dd in (2, 6) for k in (0.5, 1.0)]}
    setting = lambda sigma_w2=1.2, sigma_b2=0.0: [{"sigma_w2": sigma_w2, "sigma_b2": sigma_b2, "noise": noise}]  # noqa: E731
    sim_small = dict(n_networks=1, width=8, seed=0, device="cpu")
    sim_kinds = dict(n_networks="int", width="int", seed="int")
    sim_ranges = dict(n_networks=(1, MAX_INT), width=(1, MAX_INT), seed=(0, MAX_INT), n_layers=(1, MAX_INT), n_inputs=(1, MAX_INT),
                      q0=_NONNEG, sigma_w2=_POS, sigma_b2=_NONNEG)
    in_settings = {"sigma_w2": ("sigma_w2",), "sigma_b2": ("sigma_b2",)}

    def with_setting(fn):
        def call(sigma_w2, sigma_b2, **kw):
            return fn(setting(sigma_w2, sigma_b2), **kw)

        return call

    return {
        "plots.correlation.correlation_figure": [T("plots.correlation.correlation_figure", pc.correlation_figure,
                                                   dict(noises=[noise], map_results=[m], dynamics_results=[d], mu2_max=10.0, sigma_w2=None),
                                                   params={"mu2_max": "real", "sigma_w2": "reals", "noises": "object"}, none_ok=("sigma_w2",),
                                                   ranges={"mu2_max": (1.0, INF, True), "sigma_w2": _POS})],
        "plots.correlation.correlation_dynamics_figure": [T("plots.correlation.correlation_dynamics_figure", pc.correlation_dynamics_figure,
                                                           dict(keep_prob=0.8, c0=0.9, n_layers=3),
                                                           ranges={"keep_prob": _UNIT_OPEN_LOW, "c0": _CORR, "n_layers": (1, MAX_INT)})],
        "plots.depth.depth_scale_curve_figure": [T("plots.depth.depth_scale_curve_figure", pd.depth_scale_curve_figure,
                                                   dict(noise=Dropout(0.9), sigma_b2=[0.05], sigma_w2=[0.5, 1.5, 3.0], activation="tanh",
                                                        ylim=(0.5, 200.0)),
                                                   params={"noise": "object", "sigma_b2": "reals", "sigma_w2": "reals", "activation": "choice",
                                                           "ylim": "pair"},
                                                   none_ok=("sigma_w2",), ranges={"sigma_b2": _NONNEG, "sigma_w2": _POS, "ylim": _POS})],
        "plots.depth.depth_scale_fit_figure": [T("plots.depth.depth_scale_fit_figure", pd.depth_scale_fit_figure,
                                                 dict(simulations=sim, theory_points=20), params={"simulations": "object", "theory_points": "int"},
                                                 ranges={"theory_points": (2, MAX_INT)})],
        "plots.depth.depth_scale_map_figure": [T("plots.depth.depth_scale_map_figure", pd.depth_scale_map_figure,
                                                 dict(sigma_w2=np.array([0.5, 1.0, 2.0]), sigma_b2=np.array([0.05, 0.2]),
                                                      maps=[np.ones((2, 3))], noises=[MultiplicativeGaussian(0.3)], vmax=30.0),
                                                 params={"sigma_w2": "reals", "sigma_b2": "reals", "maps": "reals", "vmax": "real"},
                                                 ranges={"sigma_w2": _POS, "sigma_b2": _NONNEG, "maps": _NONNEG, "vmax": (1.0, INF, True)})],
        "plots.depth.depth_scale_parity_figure": [T("plots.depth.depth_scale_parity_figure", pd.depth_scale_parity_figure,
                                                    dict(simulations=[sim], labels=["ReLU"]), params={"simulations": "object"})],
        "plots.depth.depth_scale_ridge_figure": [T("plots.depth.depth_scale_ridge_figure", pd.depth_scale_ridge_figure,
                                                   dict(ridges=[ridge], noises=[MultiplicativeGaussian(0.5)], relu_reference=True),
                                                   params={"ridges": "object", "noises": "object", "relu_reference": "bool"})],
        "plots.depth.trainable_depth_rule_figure": [T("plots.depth.trainable_depth_rule_figure", pd.trainable_depth_rule_figure,
                                                      dict(keep_prob=0.8, n_layers=5, multiple=6.0),
                                                      ranges={"keep_prob": (0.0, 1.0, True, True), "n_layers": (1, MAX_INT), "multiple": _POS})],
        "plots.gradients.gradient_depth_figure": [T("plots.gradients.gradient_depth_figure", pg.gradient_depth_figure,
                                                    dict(stats=stats, slopes=slopes, title=None, ylim=None),
                                                    params={"stats": "object", "slopes": "object", "ylim": "pair"}, none_ok=("ylim",),
                                                    ranges={"ylim": _POS})],
        "plots.gradients.gradient_decay_rate_figure": [T("plots.gradients.gradient_decay_rate_figure", pg.gradient_decay_rate_figure,
                                                         dict(keep_probs=[0.8, 0.9], fitted={"g_aa": [0.2, 0.1]}, chi_single=[0.8, 0.9],
                                                              chi_pair=[0.5, 0.7]),
                                                         params={"keep_probs": "reals", "chi_single": "reals", "chi_pair": "reals"},
                                                         ranges={"keep_probs": _UNIT_OPEN_LOW, "chi_single": _POS, "chi_pair": _POS})],
        "plots.gradients.signal_propagation_figure": [T("plots.gradients.signal_propagation_figure",
                                                        lambda q, growth: pg.signal_propagation_figure({"a": q}, {"a": growth}),
                                                        dict(q=np.ones((2, 5)), growth=1.0), params={"q": "reals", "growth": "real"},
                                                        names={"q": ("second_moments",), "growth": ("growth",)},
                                                        ranges={"q": _POS, "growth": _POS})],
        "plots.noise.noise_moments_figure": [T("plots.noise.noise_moments_figure", pn.noise_moments_figure,
                                               dict(noises=[Dropout(0.5)], families=[MultiplicativeGaussian([0.5, 1.0])], n_samples=100, seed=0),
                                               params={"noises": "object", "families": "object", "n_samples": "int", "seed": "int"},
                                               ranges={"n_samples": (2, MAX_INT), "seed": (0, MAX_INT)})],
        "plots.noise.preactivation_distribution_figure": [T("plots.noise.preactivation_distribution_figure", pn.preactivation_distribution_figure,
                                                            dict(noise=Dropout(0.6), widths=(2, 8), sigma_w2=2.0, q0=1.0, n_samples=100, seed=0,
                                                                 standardize=False),
                                                            params={"noise": "object", "widths": "ints", "sigma_w2": "real", "q0": "real",
                                                                    "n_samples": "int", "seed": "int", "standardize": "bool"},
                                                            ranges={"widths": (1, MAX_INT), "sigma_w2": _POS, "q0": _POS, "n_samples": (2, MAX_INT),
                                                                    "seed": (0, MAX_INT)})],
        "plots.training.trainable_depth_heatmap_figure": [T("plots.training.trainable_depth_heatmap_figure", pt.trainable_depth_heatmap_figure,
                                                            dict(results=train_res, metrics=("val_loss",), epoch=-1, multiple=6.0, vmin=None,
                                                                 vmax=None, center=None),
                                                            params={"results": "object", "epoch": "int", "multiple": "real", "vmin": "real",
                                                                    "vmax": "real", "center": "real"},
                                                            none_ok=("vmin", "vmax", "center"),
                                                            ranges={"epoch": (-2, 1), "multiple": _NONNEG})],
        "plots.training.training_curves_figure": [T("plots.training.training_curves_figure", pt.training_curves_figure,
                                                    dict(results=train_res, keep_probs=[1.0], metric="val_loss", baselines={"zeros": 0.11}),
                                                    params={"results": "object", "keep_probs": "reals", "metric": "choice"})],
        "plots.variance.critical_settings": [T("plots.variance.critical_settings", pv.critical_settings,
                                               dict(noise=noise, factors=(1.0, 1.15, 0.85)), params={"noise": "object", "factors": "reals"},
                                               ranges={"factors": _POS})],
        "plots.variance.variance_map_figure": [T("plots.variance.variance_map_figure", with_setting(pv.variance_map_figure),
                                                 dict(sigma_w2=1.2, sigma_b2=0.0, q_values=[1.0, 2.0], simulate_points=True, n_inputs=2, **sim_small),
                                                 params=dict(sim_kinds, sigma_w2="real", sigma_b2="real", q_values="reals", simulate_points="bool",
                                                             n_inputs="int"), names=in_settings, ranges=dict(sim_ranges, q_values=_NONNEG))],
        "plots.variance.variance_dynamics_figure": [T("plots.variance.variance_dynamics_figure", with_setting(pv.variance_dynamics_figure),
                                                      dict(sigma_w2=1.2, sigma_b2=0.0, q0=1.0, n_layers=3, simulate_points=True, n_inputs=2,
                                                           log_scale=False, **sim_small),
                                                      params=dict(sim_kinds, sigma_w2="real", sigma_b2="real", q0="real", n_layers="int",
                                                                  simulate_points="bool", n_inputs="int", log_scale="bool"),
                                                      names=in_settings, ranges=sim_ranges)],
        "plots.variance.variance_propagation_figure": [T("plots.variance.variance_propagation_figure", with_setting(pv.variance_propagation_figure),
                                                         dict(sigma_w2=1.2, sigma_b2=0.0, q_values=[1.0, 2.0], q0=1.0, n_layers=2,
                                                              simulate_points=True, n_inputs_map=2, n_inputs_dynamics=2, log_scale=False, **sim_small),
                                                         params=dict(sim_kinds, q_values="reals", q0="real", n_layers="int",
                                                                     n_inputs_map="int", n_inputs_dynamics="int", log_scale="bool"),
                                                         ranges=dict(sim_ranges, q_values=_NONNEG, n_inputs_map=(1, MAX_INT),
                                                                     n_inputs_dynamics=(1, MAX_INT)))],
        "plots.variance.cobweb_figure": [T("plots.variance.cobweb_figure", with_setting(pv.cobweb_figure),
                                           dict(sigma_w2=1.0, sigma_b2=0.1, q0=2.0, n_layers=5, q_max=None, log_scale=False),
                                           params={"sigma_w2": "real", "sigma_b2": "real", "q0": "real", "n_layers": "int", "q_max": "real",
                                                   "log_scale": "bool"},
                                           names=in_settings, none_ok=("q_max",), ranges=dict(sim_ranges, q_max=_POS))],
        "plots.variance.critical_boundary_figure": [T("plots.variance.critical_boundary_figure", pv.critical_boundary_figure,
                                                      dict(mu2_range=(1.0, 2.0), points=()), params={"mu2_range": "pair"},
                                                      ranges={"mu2_range": (1.0, INF)})],
        "plots.variance.failure_depth_figure": [T("plots.variance.failure_depth_figure", pv.failure_depth_figure,
                                                  dict(noise=noise, sigma_w2_values=[0.5, 2.0], q0=1.0, simulate_sigma_w2=[2.4], n_inputs=2,
                                                       **sim_small),
                                                  params=dict(sim_kinds, noise="object", sigma_w2_values="reals", q0="real",
                                                              simulate_sigma_w2="reals", n_inputs="int"),
                                                  ranges=dict(sim_ranges, sigma_w2_values=_POS, simulate_sigma_w2=_POS, q0=_POS))],
        "plots.variance_depth.variance_depth_layer_figure": [T("plots.variance_depth.variance_depth_layer_figure",
                                                               pvd.variance_depth_layer_figure, dict(result=vd, sigma_w2=0.4),
                                                               params={"result": "object", "sigma_w2": "real"},
                                                               ranges={"sigma_w2": _POS})],
    }


def numeric_targets() -> dict:
    """``{"module.callable": [Target, ...]}`` for the numeric modules (see :data:`NUMERIC_MODULES`)."""
    out = {}
    for build in (theory_targets, network_targets, forward_targets, simulate_targets, fits_targets, analysis_targets, misc_targets,
                  plots_targets, new_main_targets):
        out.update(build())
    for name in NUMERIC_NOT_SWEPT:
        out.setdefault(name, None)
    return out


# ------------------------------------------------------------------------------------------------
# what main added after the sweep's first passes: analysis of grids over seeds and multiples,
# finite-width simulations, Huang et al.'s gradient runs and trainable length, the reproduction
# report, the figure style and the Huang figures
# ------------------------------------------------------------------------------------------------
def _synthetic_grid_runs(n_seeds=2, task="reconstruct"):
    """Small results dicts of a grid in which the cells with L <= 8 xi_c train (as tests/test_analysis.py)."""
    depths, keeps = np.array([2, 5, 10, 20, 40]), np.array([0.5, 0.7, 0.9])
    xi = np.atleast_1d(theory.depth_scale(Dropout(keep_prob=keeps)))
    trains = depths[:, None] <= 8.0 * xi[None, :]
    rng = np.random.default_rng(0)
    metric = "val_loss" if task == "reconstruct" else "val_accuracy"
    runs = []
    for s in range(n_seeds):
        values = (np.where(trains, 0.02, 0.05) if task == "reconstruct" else np.where(trains, 0.9, 0.1)) + 0.002 * rng.standard_normal(trains.shape)
        baselines = ({"predict the mean image": 0.05, "predict zeros": 0.1} if task == "reconstruct"
                     else {"most frequent class (accuracy)": 0.1, "uniform logits (loss)": 2.3})
        runs.append({"cells": [{"depth": int(d), "keep_prob": float(p), metric: [float(values[i, j])], "train_loss": [float(values[i, j])]}
                               for i, d in enumerate(depths) for j, p in enumerate(keeps)],
                     "config": {"task": task, "seed": s, "width": 16}, "baselines": baselines})
    return runs


def _sigma_grid_results():
    """A (sigma_w2, depth) trainable-length grid in which L <= 6 xi_1 trains."""
    sws, depths = [1.0, 1.5, 2.0, 3.0], [5, 10, 20, 40]
    scales = analysis.huang_depth_scales(sws, 0.95)
    xi1 = np.asarray(scales["xi_1"], dtype=float)
    cells = [{"depth": d, "keep_prob": 0.95, "sigma_w2": sw, "val_accuracy": [0.9 if d <= 6 * xi1[j] else 0.1],
              "train_loss": [0.1 if d <= 6 * xi1[j] else 2.3]} for j, sw in enumerate(sws) for d in depths]
    return {"cells": cells, "config": {"task": "classify", "keep_probs": [0.95], "sigma_w2s": sws, "activation": "tanh", "sigma_b2": 0.05},
            "baselines": {"most frequent class (accuracy)": 0.1, "uniform logits (loss)": 2.3}}


def new_main_targets() -> dict:
    T = Target
    from nsp_helpers import errors, gradient_runs, reproduction, trainable_length, variance_depth
    from nsp_helpers.plots import huang, style

    runs = _synthetic_grid_runs()
    grid = analysis.seed_grid(runs, "val_loss")
    cls_grid = analysis.seed_grid(_synthetic_grid_runs(task="classify"), "val_accuracy")
    summary = analysis.boundary_summary(cls_grid.depths, cls_grid.keep_probs, cls_grid.values.mean(axis=0), 0.1, higher_is_better=True)
    sigma_res = _sigma_grid_results()
    cfg = gradient_runs.GradientRunConfig("tanh", 1.4, 0.1, 0.9, n_layers=12, width=8, n_networks=4, block=2, stride=1)
    grun = gradient_runs.GradientRun(gradient_runs.compute_run(cfg))
    tiny_vd = variance_depth.run_variance_depth(torch.rand(6, 5, generator=torch.Generator().manual_seed(0)), Dropout(0.6),
                                                [1.0, 2.0], width=6, max_layers=4, device="cpu")
    log_q = simulate.simulate_log_q(4, Dropout(0.8), width=8, n_networks=16, device="cpu")
    gcfg = dict(activation="tanh", sigma_w2=1.4, sigma_b2=0.1, keep_prob=0.9, n_layers=6, width=8, n_networks=2, backward="tied",
                seed=0, block=1, stride=2)
    return {
        # --- errors ------------------------------------------------------------------------------------
        # --- analysis ----------------------------------------------------------------------------------
        "analysis.agreement_test": [T("analysis.agreement_test", analysis.agreement_test,
                                      dict(per_network=np.random.default_rng(0).normal(1.0, 0.1, (3, 20)), expected=[1.0, 1.0, 1.0]),
                                      params={"per_network": "reals", "expected": "reals"})],
        "analysis.seed_grid": [T("analysis.seed_grid", analysis.seed_grid, dict(results_list=runs, metric="val_loss", epoch=-1),
                                 params={"results_list": "object", "metric": "choice", "epoch": "int"})],
        "analysis.mean_results": [T("analysis.mean_results", analysis.mean_results, dict(results_list=runs),
                                    params={"results_list": "object"})],
        "analysis.trainable_cells": [T("analysis.trainable_cells", analysis.trainable_cells, dict(grid=grid, fraction=0.5),
                                       params={"grid": "object", "fraction": "real"}, ranges={"fraction": (0.0, 1.0, True, True)})],
        "analysis.fit_depth_multiple": [T("analysis.fit_depth_multiple", analysis.fit_depth_multiple,
                                          dict(grid=grid, fraction=0.5, n_boot=20, level=0.95, seed=0),
                                          params={"grid": "object", "fraction": "real", "n_boot": "int", "level": "real", "seed": "int"},
                                          ranges={"fraction": (0.0, 1.0, True, True), "n_boot": (1, 10**6),
                                                  "level": (0.0, 1.0, True, True), "seed": (0, MAX_INT)},
                                          nan_ok="k is nan where the best range is unbounded or starts at 0 (DepthMultipleFit)")],
        "analysis.boundary_summary": [T("analysis.boundary_summary", analysis.boundary_summary,
                                        dict(depths=grid.depths, keep_probs=grid.keep_probs, values=grid.values.mean(axis=0),
                                             baseline=0.05, multiple=6.0, higher_is_better=False),
                                        params={"depths": "ints", "keep_probs": "reals", "values": "reals", "baseline": "real",
                                                "multiple": "real", "higher_is_better": "bool"},
                                        ranges={"depths": (1, MAX_INT), "keep_probs": _UNIT_OPEN_LOW, "multiple": _POS})],
        "analysis.classification_sentence": [T("analysis.classification_sentence", analysis.classification_sentence,
                                               dict(summary=summary, profile="quick", n_epochs=3, n_seeds=1, levels=(0.2, 0.5)),
                                               params={"summary": "object", "profile": "text", "n_epochs": "int", "n_seeds": "int",
                                                       "levels": "reals"},
                                               ranges={"n_epochs": (1, MAX_INT), "n_seeds": (1, MAX_INT), "levels": (0.0, 1.0)})],
        "analysis.spread_sentence": [T("analysis.spread_sentence", analysis.spread_sentence,
                                       dict(reconstruction=grid, classification=cls_grid),
                                       params={"reconstruction": "object", "classification": "object"})],
        "analysis.finite_width_spread": [T("analysis.finite_width_spread", analysis.finite_width_spread,
                                           dict(depths=[2, 5, 10], keep_probs=[0.5, 0.9], width=16, multiple=6.0),
                                           params={"depths": "ints", "keep_probs": "reals", "width": "int", "multiple": "real"},
                                           ranges={"depths": (1, MAX_INT), "keep_probs": _UNIT_OPEN_LOW, "width": (1, MAX_INT),
                                                   "multiple": _POS},
                                           nan_ok="std and median are nan where no network survives (FiniteWidthSpread)")],
        "analysis.spread_at_rule_departures": [T("analysis.spread_at_rule_departures", analysis.spread_at_rule_departures,
                                                 dict(results=analysis.mean_results(runs), metric="val_loss", multiple=6.0, threshold=None),
                                                 params={"results": "object", "metric": "choice", "multiple": "real", "threshold": "real"},
                                                 none_ok=("threshold",), ranges={"multiple": _POS})],
        "analysis.stored_grids": [T("analysis.stored_grids", analysis.stored_grids,
                                    dict(dataset="mnist", task="reconstruct", profile="quick", root=None),
                                    params={"dataset": "choice", "task": "choice", "profile": "text", "root": "path"}, none_ok=("root",))],
        "analysis.fit_depth_scale_multiple": [T("analysis.fit_depth_scale_multiple", analysis.fit_depth_scale_multiple,
                                                dict(depths=[5, 10, 20, 40], depth_scale=[3.0, 3.0, 3.0, 3.0],
                                                     trainable=[True, True, False, False], n_boot=20, seed=0),
                                                params={"depths": "reals", "depth_scale": "reals", "trainable": "object",
                                                        "n_boot": "int", "seed": "int"},
                                                ranges={"depths": _POS, "depth_scale": (0.0, INF, True), "n_boot": (2, 10**6),
                                                        "seed": (0, MAX_INT)})],
        "analysis.huang_depth_scales": [T("analysis.huang_depth_scales", analysis.huang_depth_scales,
                                          dict(sigma_w2s=[1.0, 2.0], keep_prob=0.95, sigma_b2=0.05, activation="tanh"),
                                          params={"sigma_w2s": "reals", "keep_prob": "real", "sigma_b2": "real", "activation": "choice"},
                                          ranges={"sigma_w2s": _POS, "keep_prob": _UNIT_OPEN_LOW, "sigma_b2": _NONNEG})],
        "analysis.trainable_length_rules": [T("analysis.trainable_length_rules", analysis.trainable_length_rules,
                                              dict(results=sigma_res, keep_prob=None, metric="val_accuracy", threshold=None, n_boot=20, seed=0),
                                              params={"results": "object", "keep_prob": "real", "metric": "choice", "threshold": "real",
                                                      "n_boot": "int", "seed": "int"},
                                              none_ok=("keep_prob", "threshold"),
                                              ranges={"keep_prob": _UNIT_OPEN_LOW, "n_boot": (2, 10**6), "seed": (0, MAX_INT)},
                                              nan_ok="a threshold with every cell on one side fits no multiple (MultipleFit.stderr)")],
        # --- train, variance_depth, theory, simulate --------------------------------------------------------
        "train.stored_seed_results": [T("train.stored_seed_results", train.stored_seed_results,
                                        dict(dataset="mnist", task="reconstruct", profile="quick", root=None),
                                        params={"dataset": "choice", "task": "choice", "profile": "choice", "root": "path"},
                                        none_ok=("root",))],
        "variance_depth.failure_statistics": [T("variance_depth.failure_statistics", variance_depth.failure_statistics,
                                                dict(result=tiny_vd, shallow_limit=300.0), params={"result": "object", "shallow_limit": "real"},
                                                ranges={"shallow_limit": _POS}, nan_ok="NaN marks the rows without a failure (documented)")],
        "theory.linear_tied_excess": [T("theory.linear_tied_excess", theory.linear_tied_excess,
                                        dict(noise=Dropout(0.8), sigma_w2=0.5, n_back=5),
                                        params={"noise": "object", "sigma_w2": "real", "n_back": "int"},
                                        ranges={"sigma_w2": (0.0, 0.8, True, True), "n_back": (0, MAX_INT)})],
        "simulate.simulate_log_q": [T("simulate.simulate_log_q", simulate.simulate_log_q,
                                      dict(n_layers=4, noise=Dropout(0.8), width=8, n_networks=16, q0=1.0, seed=0, device="cpu"),
                                      params={"n_layers": "int", "noise": "object", "width": "int", "n_networks": "int", "q0": "real",
                                              "seed": "int"},
                                      none_ok=("width",),
                                      ranges={"n_layers": (1, MAX_INT), "width": (1, MAX_INT), "n_networks": (1, MAX_INT), "q0": _POS,
                                              "seed": (0, MAX_INT)},
                                      nan_ok="ln q is -inf once a network's signal dies (documented)")],
        "simulate.log_q_agreement": [T("simulate.log_q_agreement", simulate.log_q_agreement,
                                       dict(simulation=log_q, depths=[1, 4], probabilities=(0.25, 0.5, 0.75)),
                                       params={"simulation": "object", "depths": "ints", "probabilities": "reals"},
                                       none_ok=("depths",), ranges={"depths": (0, 4), "probabilities": (0.0, 1.0, True, True)})],
        "simulate.agreement_table": [T("simulate.agreement_table", simulate.agreement_table,
                                       dict(widths=[8], depths=[2], n_networks=16, noises={"dropout": Dropout(0.8)}, seed=0, device="cpu",
                                            probabilities=(0.5,), progress=None),
                                       params={"widths": "ints", "depths": "ints", "n_networks": "int", "seed": "int",
                                               "probabilities": "reals", "noises": "object"},
                                       ranges={"widths": (1, MAX_INT), "depths": (1, MAX_INT), "n_networks": (1, MAX_INT),
                                               "seed": (0, MAX_INT), "probabilities": (0.0, 1.0, True, True)})],
        "simulate.load_agreement_table": [T("simulate.load_agreement_table", simulate.load_agreement_table, dict(path=None),
                                            params={"path": "path"}, none_ok=("path",))],
        "simulate.input_partners": [T("simulate.input_partners", simulate.input_partners,
                                      dict(c0=[0.5, 0.9], q0=1.0, n_partners=3, width=8, seed=0),
                                      params={"c0": "reals", "q0": "real", "n_partners": "int", "width": "int", "seed": "int"},
                                      ranges={"c0": _CORR, "q0": _POS, "n_partners": (1, MAX_INT), "width": (2, MAX_INT),
                                              "seed": (0, MAX_INT)})],
        "plots.training.depth_multiple_figure": [T("plots.training.depth_multiple_figure", plots.training.depth_multiple_figure,
                                                   dict(grids={"a": grid}, fits={"a": analysis.fit_depth_multiple(grid, n_boot=20)}, titles=None),
                                                   params={"grids": "object", "fits": "object"}, none_ok=("titles",))],
        # --- gradient_runs -----------------------------------------------------------------------------------
        "gradient_runs.GradientRunConfig": [T("gradient_runs.GradientRunConfig", gradient_runs.GradientRunConfig, gcfg,
                                              params={"activation": "choice", "sigma_w2": "real", "sigma_b2": "real", "keep_prob": "real",
                                                      "n_layers": "int", "width": "int", "n_networks": "int", "backward": "choice",
                                                      "seed": "int", "block": "int", "stride": "int"},
                                              ranges={"sigma_w2": _POS, "sigma_b2": _NONNEG, "keep_prob": _UNIT_OPEN_LOW,
                                                      "n_layers": (2, MAX_INT), "width": (2, MAX_INT), "n_networks": (2, MAX_INT),
                                                      "seed": (0, MAX_INT), "block": (1, MAX_INT), "stride": (1, 6)})],
        "gradient_runs.GradientRunConfig.from_dict": [T("gradient_runs.GradientRunConfig.from_dict", gradient_runs.GradientRunConfig.from_dict,
                                                        dict(d=gcfg), params={"d": "object"}, names={"d": ("config",)})],
        "gradient_runs.block_seed": [T("gradient_runs.block_seed", gradient_runs.block_seed, dict(seed=0, block_index=1),
                                       ranges={"seed": (0, MAX_INT), "block_index": (0, MAX_INT)})],
        "gradient_runs.compute_run": [T("gradient_runs.compute_run", gradient_runs.compute_run,
                                        dict(config=cfg, checkpoint=None, progress=False, device="cpu"),
                                        params={"config": "object", "progress": "bool"}, none_ok=("checkpoint",))],
        "gradient_runs.GradientRun": [T("gradient_runs.GradientRun", gradient_runs.GradientRun, dict(raw=grun.raw),
                                        params={"raw": "object"})],
        "gradient_runs.GradientRun.fit_rate": [T("gradient_runs.GradientRun.fit_rate", grun.fit_rate,
                                                 dict(name="g_aa", first_layer=None, last_layer=None),
                                                 params={"name": "choice", "first_layer": "int", "last_layer": "int"},
                                                 none_ok=("first_layer", "last_layer"),
                                                 ranges={"first_layer": (1, 11), "last_layer": (2, 12)},
                                                 nan_ok="a run shorter than the default fit window has no points (RateFit, n_points=0)")],
        "gradient_runs.GradientRun.log_spread": [T("gradient_runs.GradientRun.log_spread", grun.log_spread,
                                                   dict(name="g_aa", n_boot=10, seed=0),
                                                   params={"name": "choice", "n_boot": "int", "seed": "int"},
                                                   ranges={"n_boot": (0, 10**6), "seed": (0, MAX_INT)})],
        "gradient_runs.load_run": [T("gradient_runs.load_run", gradient_runs.load_run, dict(path="missing.json"), params={"path": "path"},
                                     baseline_raises=errors.DamagedFileError)],
        "gradient_runs.stored_runs": [T("gradient_runs.stored_runs", gradient_runs.stored_runs, dict(group=None, root=None),
                                        params={"group": "text", "root": "path"}, none_ok=("group", "root"))],
        # --- trainable_length ---------------------------------------------------------------------------------
        "trainable_length.profile_config": [T("trainable_length.profile_config", trainable_length.profile_config,
                                              dict(profile="cpu", dataset="mnist"), params={"profile": "choice", "dataset": "choice"})],
        "trainable_length.stored_results": [T("trainable_length.stored_results", trainable_length.stored_results,
                                              dict(profile="cpu", dataset="mnist", root=None),
                                              params={"profile": "choice", "dataset": "choice", "root": "path"}, none_ok=("root",))],
        "trainable_length.read_published_heatmap": [T("trainable_length.read_published_heatmap", trainable_length.read_published_heatmap,
                                                      dict(root="missing", panel="a"), params={"root": "path", "panel": "choice"},
                                                      baseline_raises=errors.InvalidParameterError)],
        "trainable_length.fit_published": [T("trainable_length.fit_published", trainable_length.fit_published,
                                             dict(root="missing", n_boot=10, seed=0), params={"root": "path", "n_boot": "int", "seed": "int"},
                                             baseline_raises=errors.InvalidParameterError,
                                             ranges={"n_boot": (0, 10**6), "seed": (0, MAX_INT)})],
        "trainable_length.stored_published_fits": [T("trainable_length.stored_published_fits", trainable_length.stored_published_fits,
                                                     dict(root=None), params={"root": "path"}, none_ok=("root",))],
        # --- reproduction --------------------------------------------------------------------------------------
        "reproduction.value_range": [T("reproduction.value_range", reproduction.value_range, dict(values=[1.0, 2.5], fmt=".0f"),
                                       params={"values": "reals", "fmt": "text"})],
        "reproduction.training_reduction": [T("reproduction.training_reduction", reproduction.training_reduction,
                                              dict(config=train.profile_config("medium").to_dict()), params={"config": "object"})],
        # --- plots.style -------------------------------------------------------------------------------------
        "plots.style.colour": [T("plots.style.colour", style.colour, dict(k=1), ranges={"k": (0, MAX_INT)})],
        "plots.style.number": [T("plots.style.number", style.number, dict(value=0.5, spec=".3g"), params={"spec": "text"})],
        "plots.style.new_figure": [T("plots.style.new_figure", style.new_figure, dict(nrows=1, ncols=2, width=7.0, height=3.0),
                                     params={"nrows": "int", "ncols": "int", "width": "real", "height": "real"}, none_ok=("height",),
                                     ranges={"nrows": (1, 100), "ncols": (1, 100), "width": (0.0, 100.0, True), "height": (0.0, 100.0, True)})],
        "plots.style.plain_text": [T("plots.style.plain_text", style.plain_text, dict(label=r"$\sigma_w^2$ = 2"), params={"label": "text"})],
        "plots.style.family_name": [T("plots.style.family_name", style.family_name, dict(noise=Dropout(0.5)), params={"noise": "object"})],
        # --- plots.huang -------------------------------------------------------------------------------------
        "plots.huang.tied_curves_figure": [T("plots.huang.tied_curves_figure", huang.tied_curves_figure, dict(run=grun, ylim=None),
                                             params={"run": "object", "ylim": "reals"}, none_ok=("ylim",), ranges={"ylim": _POS})],
        "plots.huang.tied_rates_figure": [T("plots.huang.tied_rates_figure", huang.tied_rates_figure,
                                            dict(panels={"tanh": {"g_aa": ([0.8, 0.9], [0.2, 0.1], [0.01, 0.01])}},
                                                 theory_lines={"tanh": ([0.8, 0.9], [0.2, 0.1], [0.5, 0.3])}),
                                            params={"panels": "object", "theory_lines": "object"})],
    }
