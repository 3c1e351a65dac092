#!/bin/bash
# bal_o_data, dglbal protocol, 300 epochs, 3 seeds (BalO / Xavier baselines: the committed 600-epoch runs): the setting of the committed 600-epoch
# BalO / Xavier runs (benchmarks/results/gat-planetoid), cells in priority order.
export PYTHONPATH=/work/runs/code-07f6b47 DGLBACKEND=pytorch DGLBAL_DATA=/work/shared/data OMP_NUM_THREADS=1
PY=/work/wt/issue11/.venv/bin/python
for cell in "cora 10" "citeseer 10" "cora 20" "citeseer 20"; do
  set -- $cell
  $PY -m dglbal sweep --protocol dglbal --dataset $1 --layers $2 --init bal_o_data --seeds 3 \
      --epochs 300 --quiet --out /work/runs/bal-o-data
done
