"""Speed of the vectorised fixed-point solvers in :mod:`nsp_helpers.theory`.

Times ``correlation_fixed_point`` + ``depth_scale`` of critical ReLU networks for 10^6 dropout
keep probabilities at once, and compares with two scalar Python loops over keep probabilities:

* the same public functions called once per keep probability, and
* ``scipy.optimize.brentq`` on the closed-form fixed-point equation, once per keep probability.

The vectorised calls are repeated three times (best reported, first also printed); the loops are
timed on a few thousand levels and extrapolated linearly to 10^6. All ratios come from one run of
this script; no assertions; the numbers depend on the machine and its load.

Run: ``python benchmarks/bench_theory.py [n_levels] [n_loop]``
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from scipy.optimize import brentq

from nsp_helpers import theory
from nsp_helpers.noise import Dropout


def scalar_brentq(keep_prob: float) -> tuple[float, float]:
    """c* and xi_c for one keep probability, by brentq on c = (sqrt(1-c^2) + (pi - acos c) c) keep / pi."""
    if keep_prob == 1.0:
        return 1.0, math.inf

    def h(c):
        return (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) * keep_prob / math.pi - c

    c_star = brentq(h, -1.0, 1.0, xtol=1e-15, rtol=1e-15)
    chi = keep_prob * (0.5 + math.asin(c_star) / math.pi)
    return c_star, -1.0 / math.log(chi)


def main(n_levels: int = 10**6, n_loop: int = 2000, n_repeat: int = 3) -> None:
    keep = np.linspace(0.05, 1.0, n_levels)
    noise = Dropout(keep_prob=keep)

    timings = []
    for _ in range(n_repeat):
        start = time.perf_counter()
        c_star = theory.correlation_fixed_point(noise)
        t_fixed = time.perf_counter() - start
        start = time.perf_counter()
        xi = theory.depth_scale(noise)
        timings.append((t_fixed, time.perf_counter() - start))
    t_fixed, t_depth = min(timings, key=sum)
    t_vec = t_fixed + t_depth

    sample = keep[np.linspace(0, n_levels - 1, n_loop).astype(int)]
    start = time.perf_counter()
    for k in sample:
        one = Dropout(keep_prob=float(k))
        theory.correlation_fixed_point(one)
        theory.depth_scale(one)
    t_api_loop = (time.perf_counter() - start) * n_levels / n_loop

    start = time.perf_counter()
    ref = [scalar_brentq(float(k)) for k in sample]
    t_brentq_loop = (time.perf_counter() - start) * n_levels / n_loop

    idx = np.linspace(0, n_levels - 1, n_loop).astype(int)
    err_c = max(abs(c_star[i] - r[0]) for i, r in zip(idx, ref))
    finite = [(xi[i], r[1]) for i, r in zip(idx, ref) if math.isfinite(r[1])]
    err_xi = max(abs(a / b - 1) for a, b in finite)

    print(f"critical ReLU with dropout, {n_levels:,} keep probabilities in [0.05, 1]")
    print(f"  (vectorised: best of {n_repeat} repeats; the first took {sum(timings[0]):.3f} s in total)")
    print(f"  vectorised correlation_fixed_point : {t_fixed:8.3f} s")
    print(f"  vectorised depth_scale             : {t_depth:8.3f} s")
    print(f"  vectorised total                   : {t_vec:8.3f} s")
    print(f"  scalar loop over the same API      : {t_api_loop:8.1f} s (timed on {n_loop} levels, extrapolated)")
    print(f"  scalar loop of scipy brentq        : {t_brentq_loop:8.1f} s (timed on {n_loop} levels, extrapolated)")
    print(f"  speed-up vs API loop               : {t_api_loop / t_vec:8.0f} x")
    print(f"  speed-up vs brentq loop            : {t_brentq_loop / t_vec:8.0f} x")
    print(f"  max |c* - brentq| = {err_c:.1e}, max relative xi_c difference = {err_xi:.1e} (on {n_loop} levels)")


if __name__ == "__main__":
    args = [int(float(a)) for a in sys.argv[1:3]]
    main(*args)
