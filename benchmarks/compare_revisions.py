"""Run every benchmark of this checkout and of an earlier revision in one session, and compare their ratios.

A refactor must not make the benchmarks' ratios worse. This script checks out ``--base`` (a git revision)
into a temporary worktree, then runs each benchmark script that exists in both revisions alternately,
``--rounds`` times, each in a fresh Python process with that revision's package first on ``sys.path``,
and prints, for every ratio line the scripts print (``<name>: <number>``), the best value of each
revision (ratios are "higher is better": speed-ups and fractions of the matmul rate). The two revisions
run under the same machine load; the alternation keeps a slow minute from favouring one of them.

    python benchmarks/compare_revisions.py --base 4de5356          # the revision before the core redesign

Ratios that exist in only one revision are printed for that revision alone. Nothing is written to the
repository; the temporary worktree is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATIO = re.compile(r"^(?P<name>[^:]*?(?:ratio|speed-up)[^:]*?)\s*:\s*(?P<value>[0-9.]+)\s*[x×]?\s*$")


def ratios(output: str) -> dict[str, float]:
    """The ``<name>: <number>`` lines whose name says it is a ratio or a speed-up.

    Examples
    --------
    >>> ratios("shapes: 2 x 3\\nsimulator/matmul FLOP/s ratio: 0.63\\n  speed-up vs API loop  :  2087 x\\n")
    {'simulator/matmul FLOP/s ratio': 0.63, 'speed-up vs API loop': 2087.0}
    """
    out = {}
    for line in output.splitlines():
        m = RATIO.match(line.strip())
        if m:
            out[m.group("name")] = float(m.group("value"))
    return out


def run(script: Path, root: Path, args: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, str(script), *args], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed in {root}:\n{done.stderr[-2000:]}")
    return done.stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier git revision (e.g. a commit hash)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per revision (best kept)")
    parser.add_argument("--only", default=None, help="comma-separated benchmark file names to run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nsp-bench-") as tmp:
        base_root = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_root), args.base],
                       check=True, capture_output=True)
        try:
            names = sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py")
                           if (base_root / "benchmarks" / p.name).exists())
            if args.only:
                names = [n for n in names if n in args.only.split(",")]
            best: dict[str, dict[str, float]] = {}
            for name in names:
                for _ in range(args.rounds):
                    for label, root in (("base", base_root), ("this", ROOT)):
                        for key, value in ratios(run(root / "benchmarks" / name, root, [])).items():
                            slot = best.setdefault(f"{name}: {key}", {})
                            slot[label] = max(value, slot.get(label, float("-inf")))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_root)],
                           capture_output=True)
    print(f"best of {args.rounds} alternating runs; base = {args.base}")
    for key, values in best.items():
        base, this = values.get("base"), values.get("this")
        if base is None or this is None:
            print(f"  {key}: {'base' if this is None else 'this'} only, {base if this is None else this:.2f}")
        else:
            print(f"  {key}: base {base:.2f}, this {this:.2f}, this/base {this / base:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
