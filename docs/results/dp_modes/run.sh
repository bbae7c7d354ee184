#!/bin/sh
# One-epoch DP retrain of examples/c8_small.json under both --dp-mode values, same seed.
export OMP_NUM_THREADS=1
for mode in hooks ghost; do
  python -m eqnas retrain --arch examples/c8_small.json --data fashion-mnist-rot --epochs 1 --dp --epsilon 8 \
    --dp-mode $mode --seed 0 --out runs/c8_small_$mode
done
