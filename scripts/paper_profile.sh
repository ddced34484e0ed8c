#!/usr/bin/env bash
# Pretorius et al.'s trainable-depth grid (Fig. 6b, c, e, f) at the paper's settings, end to end:
# train (python -m nsp_helpers.train --profile paper), and, as a job array, merge the shards.
#
#   scripts/paper_profile.sh                                                      # one machine with a GPU
#   sbatch --array=0-19 --gres=gpu:1 --time=24:00:00 scripts/paper_profile.sh     # a Slurm job array
#
# On one machine the whole grid trains in one process. In a job array every task trains its slice k of n
# of the grid (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT), and whichever task completes the set of n
# shards merges them into results/trainable_depth/{dataset}_{task}_paper.json, the file the chapter looks
# for first. Re-running an interrupted command resumes it from its checkpoint; finished files are kept.
# Environment (all optional): DATASETS (default "mnist"; "mnist cifar10" adds Fig. 6e, f), TASKS (default
# "reconstruct"; "reconstruct classify" adds the book's classification grid), PROFILE (default "paper"),
# OUT (default results/trainable_depth), TRAIN_ARGS (extra arguments of python -m nsp_helpers.train).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-results/trainable_depth}
profile=${PROFILE:-paper}
python=${PYTHON:-python}
mkdir -p "$out"
for dataset in ${DATASETS:-mnist}; do
  for task in ${TASKS:-reconstruct}; do
    args=(--profile "$profile" --dataset "$dataset" --task "$task" --out "$out" --no-progress ${TRAIN_ARGS:-})
    if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
      "$python" -m nsp_helpers.train "${args[@]}"
      continue
    fi
    n=${SLURM_ARRAY_TASK_COUNT:?a job array needs SLURM_ARRAY_TASK_COUNT}
    "$python" -m nsp_helpers.train "${args[@]}" --shard "$SLURM_ARRAY_TASK_ID/$n"
    # one merge at a time; the task that finds all n shards of this configuration merges them
    (
      flock 9
      shopt -s nullglob
      shards=("$out/${dataset}_${task}_${profile}"_*_shard*of"$n".json)
      merged="$out/${dataset}_${task}_${profile}.json"
      if [ "${#shards[@]}" -eq "$n" ] && [ ! -e "$merged" ]; then
        "$python" -m nsp_helpers.train merge "${shards[@]}" --out "$merged"
      fi
    ) 9> "$out/.merge.lock"
  done
done
