#!/bin/bash
# bal_o_data, dglbal protocol, 300 epochs, 3 seeds (the BalO / Xavier baselines are the
# committed 600-epoch runs of benchmarks/results/gat-planetoid), cells in priority order.
# Run from the repository root after `make install`; DGLBAL_DATA defaults to ../shared/data.
set -euo pipefail
export DGLBACKEND=pytorch OMP_NUM_THREADS=1 DGLBAL_DATA="${DGLBAL_DATA:-../shared/data}"
OUT="${1:-benchmarks/results/bal-o-data}"
for cell in "cora 10" "citeseer 10" "cora 20" "citeseer 20"; do
  set -- $cell
  .venv/bin/python -m dglbal sweep --protocol dglbal --dataset "$1" --layers "$2" \
      --init bal_o_data --seeds 3 --epochs 300 --quiet --out "$OUT"
done
