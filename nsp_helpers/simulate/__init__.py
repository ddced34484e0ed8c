r"""Monte Carlo measurement of finite random noisy networks (torch, any device): the simulation layer.

Every network runs through the package's one forward pass (:mod:`nsp_helpers.forward`); this layer
measures what the mean-field theory (:mod:`nsp_helpers.theory`) predicts:

* :mod:`~nsp_helpers.simulate.propagation`: second moments :math:`q^l` and cosine similarities
  :math:`c^l`, layer by layer (Pretorius et al. 2018, Figs. 2-4);
* :mod:`~nsp_helpers.simulate.depth_scales`: correlation depth scales fitted in simulated networks
  (Fig. 5);
* :mod:`~nsp_helpers.simulate.finite_width`: how far one finite network strays from the mean field,
  :math:`\ln \hat q^{\,l}` of many networks against the finite-width theory (the book's own material);
* :mod:`~nsp_helpers.simulate.gradients`: gradient statistics by backpropagation with tied weights
  (Huang et al. 2020), and the second moments inside any torch model.

Everything public is available directly as ``nsp_helpers.simulate.<name>``.
"""

from .depth_scales import DepthScaleSimulation, simulate_depth_scale
from .finite_width import (
    SAME_MU2,
    LogQAgreement,
    LogQSimulation,
    agreement_table,
    load_agreement_table,
    log_q_agreement,
    simulate_log_q,
)
from .gradients import (
    STATISTICS,
    GradientStatistics,
    UniversalityFit,
    gradient_statistics,
    preactivation_second_moments,
    universality,
)
from .propagation import (
    CorrelationDynamicsResult,
    CorrelationMapResult,
    Propagation,
    VarianceDynamicsResult,
    VarianceMapResult,
    input_pairs,
    input_partners,
    inputs_with_variance,
    propagate,
    scaled,
    simulate_correlation_dynamics,
    simulate_correlation_map,
    simulate_variance_dynamics,
    simulate_variance_map,
)

__all__ = [
    "SAME_MU2",
    "LogQAgreement",
    "LogQSimulation",
    "agreement_table",
    "load_agreement_table",
    "log_q_agreement",
    "simulate_log_q",
    "CorrelationDynamicsResult",
    "CorrelationMapResult",
    "DepthScaleSimulation",
    "GradientStatistics",
    "Propagation",
    "STATISTICS",
    "VarianceDynamicsResult",
    "VarianceMapResult",
    "gradient_statistics",
    "input_pairs",
    "input_partners",
    "inputs_with_variance",
    "preactivation_second_moments",
    "propagate",
    "scaled",
    "universality",
    "UniversalityFit",
    "simulate_correlation_dynamics",
    "simulate_correlation_map",
    "simulate_depth_scale",
    "simulate_variance_dynamics",
    "simulate_variance_map",
]
