"""The one prepared command of the paper profile (scripts/paper_profile.sh), run on a tiny synthetic grid.

The script trains the grid in one process on a single machine, or one shard per Slurm array task, where the
task that completes the set merges the shards. Here the array is two tasks run one after the other (CPU,
a profile shrunk by TRAIN_ARGS): the merged file must hold the single-machine run's grid and configuration
(not its numbers: dropout masks depend on which networks train together, see nsp_helpers.train), with each
shard's cells as that shard trained them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nsp_helpers import train

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "paper_profile.sh"
TINY = "--epochs 1 --n-examples 60 --width 4 --depths 1,2 --keep-probs 0.5,1.0 --pool 1 --device cpu --threads 1"


def run_script(out: Path, **env):
    environment = dict(os.environ, PYTHON=sys.executable, PROFILE="quick", DATASETS="synthetic", OUT=str(out),
                       TRAIN_ARGS=TINY, NSP_CHECKPOINT_DIR=str(out / "checkpoints"),
                       PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **env)
    return subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("flock") is None, reason="needs flock (util-linux)")
def test_job_array_merges_into_the_single_machine_result(tmp_path):
    single = run_script(tmp_path / "single")
    assert single.returncode == 0, single.stderr
    (single_file,) = [p for p in (tmp_path / "single").glob("synthetic_reconstruct_quick_*.json")]

    array = tmp_path / "array"
    first = run_script(array, SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_COUNT="2")
    assert first.returncode == 0, first.stderr
    merged = array / "synthetic_reconstruct_quick.json"
    assert not merged.exists()  # one shard of two: nothing to merge yet
    second = run_script(array, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2")
    assert second.returncode == 0, second.stderr
    assert merged.exists()
    joined, whole = train.load_results(merged), train.load_results(single_file)
    assert joined["config"] == whole["config"]
    key = lambda c: (c["depth"], c["keep_prob"])  # noqa: E731
    assert sorted(map(key, joined["cells"])) == sorted(map(key, whole["cells"]))
    shard_cells = [c for path in sorted(array.glob("*_shard*of2.json")) for c in train.load_results(path)["cells"]]
    assert len(shard_cells) == len(whole["cells"])
    assert sorted(joined["cells"], key=key) == sorted(shard_cells, key=key)
    assert "merge" in joined["provenance"]["command"]
    again = run_script(array, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2")  # finished: nothing to redo
    assert again.returncode == 0, again.stderr
