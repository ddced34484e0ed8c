"""How close does the Monte Carlo simulator get to the speed of a bare matrix product?

Every layer of :func:`nsp_helpers.simulate.propagate` is one batched matrix product
(``n_networks`` products of ``(n_inputs, width) @ (width, width)``, 2 * n_inputs * width**2 floating
point operations each) plus the work around it: drawing ``width**2`` fresh Gaussian weights per
network, the activation, the noise and the measurement of q. This script times, in one run and on
the same device and shapes,

* the simulator (ReLU, dropout with keep_prob 0.8 at criticality, and without noise), and
* ``torch.bmm`` alone on pre-drawn weights (the upper bound),

interleaving the two so that both see the same machine load, keeping the best of ``--repeats``
runs, and prints where the remaining time goes. The last line is the ratio of the simulator's
FLOP/s (dropout case) to torch's matmul FLOP/s.

Run ``python benchmarks/bench_simulate.py`` (CPU, or the GPU when present; sizes grow on a GPU via
:func:`nsp_helpers.simulate.scaled`); ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from nsp_helpers.device import resolve_device
from nsp_helpers.noise import Dropout, NoNoise
from nsp_helpers.simulate import _NoiseStep, _RandomStreams, inputs_with_variance, propagate, scaled


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: GPU when present)")
    parser.add_argument("--n-inputs", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--n-networks", type=int, default=None, help="default 2 on CPU, 32 on a GPU")
    parser.add_argument("--n-layers", type=int, default=None, help="default 6 on CPU, 20 on a GPU")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    n, w = args.n_inputs, args.width
    m = args.n_networks or scaled(2, 32, device)
    n_layers = args.n_layers or scaled(6, 20, device)
    flops = 2.0 * n * w * w * m * n_layers
    keep = 0.8
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if device.type == "cpu" and hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        busy = " - the machine is shared; timings vary from run to run" if load > os.cpu_count() else ""
        print(f"load average {load:.1f} on {os.cpu_count()} cores{busy}")
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
        return lambda: propagate(h0, n_layers, sigma_w2, 0.0, noise, n_networks=m, device=device)

    cases = {"dropout keep 0.8": simulate(Dropout(keep), 2 * keep), "no noise": simulate(NoNoise(), 2.0)}
    times = {name: float("inf") for name in ["matmul", *cases]}
    for _ in range(args.repeats):  # interleave, so that all see the same load
        for name, fn in [("matmul", matmul), *cases.items()]:
            times[name] = min(times[name], best_time(fn, device, 1))

    # where the time of one layer goes (all networks of the batch)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        pool = None
        if device.type == "cpu" and torch.get_num_threads() > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(min(_RandomStreams.N_STREAMS, torch.get_num_threads()))
        streams = _RandomStreams(0, device, pool)
        fast = _NoiseStep(Dropout(keep), (m, n, w), gen, streams, device, torch.float32)
        parts = {
            "bmm": lambda: torch.bmm(x, weights, out=out),
            "weights, parallel streams": lambda: streams.normal_(weights, 0.03),
            "weights, one generator": lambda: weights.normal_(0.0, 0.03, generator=gen),
            "relu": lambda: torch.clamp_min(x, 0.0, out=out),
            "dropout, fast path": lambda: fast(out),
            "dropout, noise.apply": lambda: Dropout(keep).apply(out, generator=gen),
            "measure q": lambda: torch.linalg.vector_norm(out, dim=-1),
        }
        part_times = {name: best_time(fn, device, args.repeats) for name, fn in parts.items()}
        if pool is not None:
            pool.shutdown()

    print("\nper layer (all networks):")
    for name, t in part_times.items():
        print(f"  {name:28s} {1e3 * t:9.2f} ms  ({t / part_times['bmm']:5.2f} x bmm)")
    print("\nwhole runs:")
    for name, t in times.items():
        print(f"  {name:28s} {1e3 * t:9.1f} ms  {flops / t / 1e9:8.1f} GFLOP/s")
    for name in cases:
        print(f"  {name:28s} simulator/matmul {times['matmul'] / times[name]:.2f}")
    print(f"simulator/matmul FLOP/s ratio: {times['matmul'] / times['dropout keep 0.8']:.2f}")


if __name__ == "__main__":
    main()
