#!/bin/bash
# Run on the lent H200 (2026-11-30) from the repository root, escnn/opacus/fvcore on PYTHONPATH,
# Debian fashion-mnist files in FMNIST; laws_resnet_b256.yaml is spaces/laws_resnet.yaml with batch 256.
mkdir -p runs/laws_gpu runs/laws_p8
# 1) both groups, patience 3, one process per size (361 s wall); the C8 points are these:
for size in 5.98e2 1.828e3 3.834e3 9.886e3; do
  timeout ${LIMIT:-420} python3 -m eqnas laws --space docs/results/laws_gpu/laws_resnet_b256.yaml --groups trivial,C8 --sizes $size \
    --data-fractions 0.125,0.25,0.5,1 --max-train 20000 --min-samples 1000000 --max-epochs 40 --patience 3 --lr 0.01 \
    --device cuda --data-root $FMNIST --out runs/laws_gpu/size_$size > runs/laws_gpu_$size.log 2>&1 &
done
wait
# 2) the trivial group again with patience 8, one process per (size, fraction) (115 s wall):
for size in 5.98e2 1.828e3 3.834e3 9.886e3; do for frac in 0.125 0.25 0.5 1; do
  timeout ${LIMIT:-150} python3 -m eqnas laws --space docs/results/laws_gpu/laws_resnet_b256.yaml --groups trivial --sizes $size \
    --data-fractions $frac --max-train 20000 --min-samples 1000000 --max-epochs 40 --patience 8 --lr 0.01 \
    --device cuda --data-root $FMNIST --out runs/laws_p8/s${size}_f$frac > runs/laws_p8/s${size}_f$frac.log 2>&1 &
done; done
wait
# 3) the fit, here on the CPU (about 3 min):
python benchmarks/fit_law_points.py docs/results/laws_gpu/points-trivial docs/results/laws_gpu/points-C8 --name laws_resnet --holdout-largest 2 --out docs/results/laws_gpu
