"""Batched training of many networks vs. training them one by one, measured in one run.

Trains the same set of noisy ReLU networks (depths x keep probabilities, critical initialisation,
dropout on the input and after every ReLU, MSE reconstruction, SGD) for the same number of steps
twice:

* **batched**: all networks as one :class:`nsp_helpers.forward.NoisyMLP` (:func:`nsp_helpers.train.grid_model`)
  with :class:`nsp_helpers.train.StackedSGD` (what ``python -m nsp_helpers.train`` does);
* **loop**: one plain ``torch.nn.Linear`` model and one ``torch.optim.SGD`` per network, trained one
  after the other (``torch.nn.functional.dropout`` with the drop probability ``1 - keep_prob``).

It prints the achieved FLOP/s of both against the machine's measured matrix-multiply rate (one large
``torch.mm`` in the same precision), and as its last line ``batched/loop speed-up: X.XX``.
FLOPs count the matrix products only: 6 x batch x (sum over layers of fan_in x fan_out) per network
and step (forward 2, backward 4).

    python benchmarks/bench_train.py                 # CPU-sized defaults
    python benchmarks/bench_train.py --device cuda --width 1000 --batch-size 128 --d-in 784
"""

from __future__ import annotations

import argparse
import time

import torch

from nsp_helpers.device import resolve_device
from nsp_helpers.train import StackedSGD, grid_model, per_network_loss


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device, n: int, seconds: float = 1.0) -> float:
    """FLOP/s of one n x n x n float32 matrix product, best of several calls."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    _sync(device)
    best = float("inf")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def batched_step_fn(cells, d_in, width, device, lr):
    model, _ = grid_model(cells, d_in, d_in, width, device=device)
    opt = StackedSGD(list(model.weights) + list(model.biases), lr)
    gen = torch.Generator(device=device).manual_seed(0)

    def step(x):
        losses = per_network_loss(model(x, train=True, generator=gen), x, None, "reconstruct")
        opt.zero_grad()
        losses.sum().backward()
        opt.step()

    return step


def loop_step_fn(cells, d_in, width, device, lr):
    nets = []
    model, order = grid_model(cells, d_in, d_in, width, device="cpu")
    position = {cell: pos for pos, cell in enumerate(order)}
    for index, (depth, keep_prob) in enumerate(cells):
        layers = []
        for w, b in model.network_layers(position[index]):
            lin = torch.nn.Linear(w.shape[1], w.shape[0]).to(device)
            with torch.no_grad():
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            layers.append(lin)
        opt = torch.optim.SGD([p for lin in layers for p in lin.parameters()], lr=lr)
        nets.append((layers, 1.0 - keep_prob, opt))

    def step(x):
        for layers, drop_prob, opt in nets:
            h = torch.nn.functional.dropout(x, p=drop_prob, training=True)
            for lin in layers[:-1]:
                h = torch.nn.functional.dropout(torch.relu(lin(h)), p=drop_prob, training=True)
            loss = torch.nn.functional.mse_loss(layers[-1](h), x)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return step


def time_steps(step, x_batches, device) -> float:
    step(x_batches[0])  # warm-up
    _sync(device)
    t = time.perf_counter()
    for x in x_batches:
        step(x)
    _sync(device)
    return time.perf_counter() - t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="2,6,10,14,18", help="comma-separated hidden-layer counts")
    parser.add_argument("--keep-probs", default="0.2,0.4,0.6,0.8,1.0", help="comma-separated keep probabilities")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--d-in", type=int, default=196, help="input = output dimension (196: MNIST pooled to 14 x 14)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the best time of each is kept")
    parser.add_argument("--device", default=None, help="default: a GPU when present, else the CPU")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    depths = [int(v) for v in args.depths.split(",")]
    keeps = [float(v) for v in args.keep_probs.split(",")]
    cells = [(d, k) for d in depths for k in keeps]
    g = torch.Generator().manual_seed(0)
    x_batches = [torch.rand(args.batch_size, args.d_in, generator=g).to(device) for _ in range(args.steps)]
    lr = 1e-3

    macs = sum(args.d_in * args.width + (d - 1) * args.width**2 + args.width * args.d_in for d, _ in cells)
    flops = 6 * args.batch_size * macs * args.steps
    peak = matmul_rate(device, 2048 if device.type == "cuda" else 512)
    batched, loop = batched_step_fn(cells, args.d_in, args.width, device, lr), loop_step_fn(cells, args.d_in, args.width, device, lr)
    t_batched, t_loop = float("inf"), float("inf")
    for _ in range(args.repeats):
        t_batched = min(t_batched, time_steps(batched, x_batches, device))
        t_loop = min(t_loop, time_steps(loop, x_batches, device))

    print(f"device: {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}")
    print(f"{len(cells)} networks (depths {depths} x keep probabilities {keeps}), width {args.width}, "
          f"input/output {args.d_in}, batch {args.batch_size}, {args.steps} SGD steps, best of {args.repeats}")
    print(f"matrix-product FLOPs per run: {flops / 1e9:.2f} GFLOP")
    print(f"machine matmul rate (one large torch.mm): {peak / 1e9:.1f} GFLOP/s")
    for name, t in (("batched", t_batched), ("loop", t_loop)):
        rate = flops / t
        print(f"{name:8s}: {t:7.3f} s, {rate / 1e9:7.1f} GFLOP/s = {100 * rate / peak:5.1f} % of the matmul rate")
    print(f"batched/loop speed-up: {t_loop / t_batched:.2f}")


if __name__ == "__main__":
    main()
