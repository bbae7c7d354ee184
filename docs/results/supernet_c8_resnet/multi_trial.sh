#!/bin/sh
# The multi-trial search's winners at the supernet's three budgets, for README's comparison
# (2026-12-01, this 2-core CPU, one torch thread, another job beside it). Default strategy
# (NNI regularized evolution) and default rungs (1x6000,2x9000,3x18000, eta 3, two finalist
# seeds); --trials 9 per budget (trained candidates; proposals over the budget are rejected
# before training): about the CPU of the supernet search at all three budgets.
# Then each winner retrained with the supernet --top-k recipe (3x20000, proxy validation split).
export OMP_NUM_THREADS=1
mkdir -p runs/c8-multi-cpu
for budget in 40M 60M 100M; do
    /usr/bin/time -v python -m eqnas search --space spaces/c8_resnet.yaml --flops $budget --trials 9 \
        --device cpu --out runs/c8-multi-cpu/$budget > runs/c8-multi-cpu/search_$budget.log 2>&1
done
python docs/results/supernet_c8_resnet/retrain_best.py --out docs/results/supernet_c8_resnet/multi_trial_retrained.jsonl \
    runs/c8-multi-cpu/40M runs/c8-multi-cpu/60M runs/c8-multi-cpu/100M
