"""The simulator's speed: its weight-matrix path against a bare matrix product, and the exact
Gram-matrix sampler against the weight-matrix path at the paper's sizes, measured in one run.

1. **Weight-matrix path vs matmul.** Every layer of ``propagate(..., method="weights")`` is one batched
   matrix product (``n_networks`` products of ``(n_inputs, width) @ (width, width)``, 2 * n_inputs *
   width**2 floating point operations each) plus the work around it: drawing ``width**2`` fresh Gaussian
   weights per network, the activation, the noise and the measurement of q. Timed against ``torch.bmm``
   alone on pre-drawn weights (the upper bound), interleaved so that both see the same machine load, best
   of ``--repeats``. Line: ``simulator/matmul FLOP/s ratio: X.XX`` (dropout keep 0.8 at criticality).
2. **Gram sampler vs weight matrices** at Pretorius et al.'s sizes (width 1000, 50 networks): Fig. 2(b)
   (no noise, 50 inputs, 15 layers) and Fig. 4(b) (dropout keep 0.6, one c0 = 0.9, the most nearly collinear
   of the paper's three: a reference and 100 partners, 1 + 100 inputs as in ``correlations.md``, 30 layers),
   both methods of :func:`nsp_helpers.simulate.propagate` on the same inputs, networks and layers,
   interleaved. Lines: ``gram/weights speed-up (Fig. 2b): X.X`` and ``(Fig. 4b)``; the last line is the
   smaller of the two. Each case also prints the Gram path's floor: the work no sampler of these
   pre-activations avoids (per layer the activation, the noise on ``B x width`` units, which the weight path
   draws too, and ``B x width`` standard normals), timed alone, and the speed-up it bounds.

Run ``python benchmarks/bench_simulate.py`` (CPU, or the GPU when present); ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from nsp_helpers._random import RandomStreams
from nsp_helpers.device import resolve_device
from nsp_helpers.network import NoisyNetwork
from nsp_helpers.noise import Dropout, NoNoise
from nsp_helpers.simulate import input_partners, inputs_with_variance, propagate, scaled


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn, device, repeats):
    """Shortest wall-clock time of ``repeats`` calls of ``fn`` (after one warm-up call)."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _gram_floor(net, n_networks, n_inputs, device):
    """The per-layer work of the Gram path that no sampler of the same pre-activations avoids, for all layers:
    the activation and the noise of ``n_inputs x width`` units per network (the weight path does the same) and
    ``n_inputs x width`` standard normals (Z)."""
    streams = RandomStreams(0, device=device)
    shape = (n_networks, n_inputs, net.width)
    h = streams.normal_(torch.empty(shape, device=device))
    x = torch.empty(shape, device=device)
    z = torch.empty(shape, device=device)

    def run():
        words = None
        for _ in range(net.n_layers):
            torch.clamp_min(h, 0.0, out=x)
            _, words = net.noise.apply(x, generator=streams, inplace=True, workspace=words, return_noise=True)
            streams.normal_(z)

    return run


def _matmul_comparison(args, device):
    """Part 1: the weight-matrix path against a bare batched matrix product."""
    n, w = args.n_inputs, args.width
    m = args.n_networks or scaled(2, 32, device)
    n_layers = args.n_layers or scaled(6, 20, device)
    flops = 2.0 * n * w * w * m * n_layers
    keep = 0.8
    print(f"shapes: {m} networks x {n_layers} layers of ({n} inputs x {w}) @ ({w} x {w}); "
          f"{flops / 1e9:.1f} GFLOP per run")

    h0 = inputs_with_variance(1.0, n, w).to(device=device, dtype=torch.float32)
    x = torch.randn((m, n, w), device=device)
    weights = torch.randn((m, w, w), device=device)
    out = torch.empty((m, n, w), device=device)

    def matmul():
        for _ in range(n_layers):
            torch.bmm(x, weights, out=out)

    def simulate(noise, sigma_w2):
        return lambda: propagate(h0, noise, sigma_w2, 0.0, n_layers=n_layers, n_networks=m, device=device,
                                 method="weights")

    cases = {"dropout keep 0.8": simulate(Dropout(keep), 2 * keep), "no noise": simulate(NoNoise(), 2.0)}
    times = {name: float("inf") for name in ["matmul", *cases]}
    for _ in range(args.repeats):  # interleave, so that all see the same load
        for name, fn in [("matmul", matmul), *cases.items()]:
            times[name] = min(times[name], best_time(fn, device, 1))

    # where the time of one layer goes (all networks of the batch)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        streams = RandomStreams(0, device=device)
        dropout = Dropout(keep)
        words = dropout.sample((m, n, w), generator=streams, device=device)
        parts = {
            "bmm": lambda: torch.bmm(x, weights, out=out),
            "weights, parallel streams": lambda: streams.normal_(weights, 0.0, 0.03),
            "weights, one generator": lambda: weights.normal_(0.0, 0.03, generator=gen),
            "relu": lambda: torch.clamp_min(x, 0.0, out=out),
            "dropout (in place)": lambda: dropout.apply(out, generator=streams, inplace=True, workspace=words),
            "measure q": lambda: torch.linalg.vector_norm(out, dim=-1),
        }
        part_times = {name: best_time(fn, device, args.repeats) for name, fn in parts.items()}

    print("\nper layer (all networks):")
    for name, t in part_times.items():
        print(f"  {name:28s} {1e3 * t:9.2f} ms  ({t / part_times['bmm']:5.2f} x bmm)")
    print("\nwhole runs:")
    for name, t in times.items():
        print(f"  {name:28s} {1e3 * t:9.1f} ms  {flops / t / 1e9:8.1f} GFLOP/s")
    for name in cases:
        print(f"  {name:28s} simulator/matmul {times['matmul'] / times[name]:.2f}")
    print(f"simulator/matmul FLOP/s ratio: {times['matmul'] / times['dropout keep 0.8']:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: GPU when present)")
    parser.add_argument("--n-inputs", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--n-networks", type=int, default=None, help="default 2 on CPU, 32 on a GPU")
    parser.add_argument("--n-layers", type=int, default=None, help="default 6 on CPU, 20 on a GPU")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paper-networks", type=int, default=50, help="networks of the Fig. 2b/4b comparison")
    parser.add_argument("--gram-only", action="store_true", help="only part 2 (Gram sampler vs weight matrices)")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if device.type == "cpu" and hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        busy = " - the machine is shared; timings vary from run to run" if load > os.cpu_count() else ""
        print(f"load average {load:.1f} on {os.cpu_count()} cores{busy}")
    if not args.gram_only:
        _matmul_comparison(args, device)

    # --- the exact Gram sampler against drawn weight matrices, at the paper's sizes ------------------
    k = args.paper_networks
    fig2b = (inputs_with_variance(4.0, 50, 1000), None, NoisyNetwork(NoNoise(), 2.0, width=1000, n_layers=15))
    partners, partner_pairs = input_partners(0.9, 1.0, n_partners=100, width=1000)
    fig4b = (partners, partner_pairs, NoisyNetwork(Dropout(0.6), width=1000, n_layers=30))
    speedups = {}
    print(f"\nexact Gram sampler vs weight matrices, width 1000, {k} networks (best of {args.repeats}):")
    for name, (inputs, pairs, net) in (("Fig. 2b", fig2b), ("Fig. 4b", fig4b)):
        run = {method: (lambda method=method: propagate(inputs, net, n_networks=k, pairs=pairs, device=device,
                                                        method=method)) for method in ("gram", "weights")}
        run["floor"] = _gram_floor(net, k, inputs.shape[0], device)
        t = {method: float("inf") for method in run}
        for _ in range(args.repeats):
            for method, fn in run.items():
                t[method] = min(t[method], best_time(fn, device, 1))
        speedups[name] = t["weights"] / t["gram"]
        print(f"  {name}: {inputs.shape[0]} inputs x {net.n_layers} layers: weights {t['weights']:.3f} s, "
              f"gram {t['gram']:.3f} s; the Gram path's floor {t['floor']:.3f} s "
              f"(speed-up at most {t['weights'] / t['floor']:.1f})")
        print(f"gram/weights speed-up ({name}): {speedups[name]:.1f}")
    print(f"gram/weights speed-up (smaller of the two): {min(speedups.values()):.1f}")


if __name__ == "__main__":
    main()
