r"""Mean-field theory of signal propagation in wide noisy networks (numpy/scipy only).

A noisy layer computes

.. math::

   h^{l} = W^{l}\,(\epsilon^{l-1} \odot \phi(h^{l-1})) + b^{l} \quad\text{(multiplicative)},\qquad
   h^{l} = W^{l}\,(\phi(h^{l-1}) + \epsilon^{l-1}) + b^{l} \quad\text{(additive)},

with :math:`W_{ij} \sim \mathcal{N}(0, \sigma_w^2/N)`, :math:`b_i \sim \mathcal{N}(0, \sigma_b^2)`,
:math:`\mathbb{E}[\epsilon] = 1,\ \mathbb{E}[\epsilon^2] = \mu_2` (multiplicative) or
:math:`\mathbb{E}[\epsilon] = 0,\ \mathbb{E}[\epsilon^2] = \sigma_\epsilon^2` (additive).
In the infinite-width limit the pre-activations are Gaussian and two numbers per layer describe the
signal: the variance :math:`q^l` of one input's pre-activations and the correlation (cosine
similarity) :math:`c^l` between two inputs. This module gives their maps, fixed points, slopes and
depth scales (Poole et al. 2016; Schoenholz et al. 2017; Pretorius et al. 2018; Huang et al. 2020).

Conventions
-----------
* One argument order everywhere: ``f(<state args>, noise, sigma_w2=None, sigma_b2=None, activation="relu",
  <extra keywords>)``, e.g. ``variance_map(q, noise, sigma_w2)``, ``correlation_map(c, noise, q=q)``,
  ``iterate_variance(q0, n_layers, noise)``, ``depth_scale(noise)``.
* ``noise`` is a :class:`nsp_helpers.noise.NoiseModel`; only ``noise.mu2`` (1 for additive noise)
  and ``noise.additive_variance`` (0 for multiplicative noise) are read. It may also be a whole
  :class:`nsp_helpers.network.NoisyNetwork`; then ``sigma_w2``, ``sigma_b2`` and ``activation`` are the
  network's and must be left out (``theory.depth_scale(net)`` is ``net.depth_scale()``).
* ``sigma_w2=None`` means the critical initialisation, resolved by :func:`critical_parameters` (the one
  implementation: :math:`2/\mu_2` for ReLU, :math:`1/\mu_2` for linear networks, the noisy edge of chaos
  otherwise); ``sigma_b2=None`` means 0 (or, with a critical ``sigma_w2`` of an activation other than ReLU
  and linear, :data:`DEFAULT_SIGMA_B2`).
* Every argument broadcasts with numpy rules, including the parameters of a *family* of noise levels
  (``Dropout(keep_prob=np.linspace(0.1, 1, 10))``). Scalar input gives a Python ``float``.
* ``activation`` is ``"relu"`` or ``"linear"`` (closed forms), ``"hard_tanh"`` (closed forms in one
  dimension; Gauss-Legendre panels split at the kinks in two), ``"tanh"``, an
  :class:`~nsp_helpers.activations.Activation` or a callable (trapezoidal rule, see
  :func:`gaussian_expectation`; accurate to about :math:`10^{-14}` for ``tanh``, but only to about
  :math:`10^{-3}` for callables with kinks, such as a hand-written ReLU; above :math:`q \approx 1700`
  graded Gauss-Legendre panels that follow the activation's scale in :math:`u = \sqrt{q}\,z`).
* Values far from the usual scale are computed, not approximated away: variances up to about
  :math:`10^{300}`, noise with :math:`\mu_2 - 1` from :math:`10^{-16}` (read exactly from the noise model,
  :attr:`~nsp_helpers.noise.NoiseModel.mu2_excess`) to :math:`10^{300}`; what has no answer (a float32
  failure depth for an input outside float32, an infinite :math:`q^*`) is refused with a message.
* Bad input raises :class:`~nsp_helpers.errors.InvalidParameterError` naming the parameter.

Modules (everything is re-exported here: ``from nsp_helpers import theory; theory.depth_scale(...)``):

* :mod:`~nsp_helpers.theory.quadrature`: Gaussian expectations and the activation kernels
  (``book/variance_map.md``);
* :mod:`~nsp_helpers.theory.critical`: the critical initialisation (``book/critical_init.md``);
* :mod:`~nsp_helpers.theory.variance`: the variance map, its slope and fixed point, the float32 failure depth
  (``book/variance_map.md``, ``book/critical_init.md``);
* :mod:`~nsp_helpers.theory.correlation`: the correlation map, its fixed point and the depth scale
  :math:`\xi_c` (``book/correlations.md``, ``book/depth_scales.md``);
* :mod:`~nsp_helpers.theory.gradients`: gradient slopes :math:`\chi_1`, :math:`\chi(c^*)` and Huang et al.'s
  linear-network closed forms (``book/gradients.md``);
* :mod:`~nsp_helpers.theory.edge_of_chaos`: :math:`\xi_c` over :math:`(\sigma_w^2, \sigma_b^2)`, the
  noiseless and the noisy edge of chaos (``book/edge_of_chaos.md``);
* :mod:`~nsp_helpers.theory.finite_width` (a namespace of its own, not re-exported): how far one network of
  finite width strays from the mean field, the random walk of :math:`\ln q` (``book/finite_width.md``).

This layer needs only numpy and scipy (no torch, no matplotlib).

References
----------
.. [1] B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein, S. Ganguli. *Exponential expressivity in deep
   neural networks through transient chaos.* NeurIPS 2016.
.. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli, J. Sohl-Dickstein. *Deep information propagation.*
   ICLR 2017.
.. [3] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
   propagation in noisy rectifier neural networks.* NeurIPS 2018, arXiv:1811.00293.
.. [4] W. Huang, R. Y. D. Xu, W. Du, Y. Zeng, Y. Zhao. *Mean field theory for deep dropout networks:
   digging up gradient backpropagation deeply.* ECAI 2020 (Frontiers in Artificial Intelligence and
   Applications 325), pp. 1215-1222, arXiv:1912.09132.
.. [5] Y. Cho, L. K. Saul. *Kernel methods for deep learning.* NIPS 2009.
"""

from ..errors import NoCriticalPointError
from ._common import FLOAT32_MAX, FLOAT32_TINY
from .quadrature import bivariate_gaussian_expectation, gaussian_expectation
from .critical import DEFAULT_SIGMA_B2, critical_parameters, critical_weight_variance
from .variance import failure_depth, iterate_variance, variance_fixed_point, variance_map, variance_slope
from .correlation import correlation_fixed_point, correlation_map, correlation_slope, depth_scale, iterate_correlation
from .gradients import (
    GradientSlopes,
    LinearClosedForms,
    gradient_depth_scale,
    gradient_slope,
    gradient_slopes,
    linear_network_closed_forms,
    linear_tied_excess,
)
from .edge_of_chaos import (
    DepthScaleRidge,
    depth_scale_map,
    linear_network_depth_scale,
    maximise_depth_scale,
    noiseless_edge_of_chaos,
)
from .quadrature import _kernel  # noqa: F401  (the tests check the kernels directly)
from . import finite_width  # noqa: E402  (finite-width fluctuations: nsp_helpers.theory.finite_width)

__all__ = [
    "finite_width",
    "FLOAT32_MAX",
    "FLOAT32_TINY",
    "NoCriticalPointError",
    "gaussian_expectation",
    "bivariate_gaussian_expectation",
    "DEFAULT_SIGMA_B2",
    "critical_parameters",
    "critical_weight_variance",
    "variance_map",
    "variance_slope",
    "variance_fixed_point",
    "iterate_variance",
    "failure_depth",
    "correlation_map",
    "correlation_slope",
    "correlation_fixed_point",
    "iterate_correlation",
    "depth_scale",
    "gradient_slope",
    "gradient_depth_scale",
    "GradientSlopes",
    "gradient_slopes",
    "LinearClosedForms",
    "linear_network_closed_forms",
    "linear_tied_excess",
    "linear_network_depth_scale",
    "depth_scale_map",
    "noiseless_edge_of_chaos",
    "DepthScaleRidge",
    "maximise_depth_scale",
]
