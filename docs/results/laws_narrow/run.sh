#!/bin/bash
# Run on this project's 2-core CPU machine (2026-11-30), beside `eqnas study` and test runs:
# the trivial group at 4 narrow sizes (654-3,982 parameters) x 3 data sizes with the H200
# sweep's recipe (docs/results/laws_gpu/run.sh: lr 0.01 scaled by FLOPs^-0.5, up to 40 epochs,
# at least 1e6 samples, patience 8 as its trivial points, batch 256), one thread per process,
# two processes; then one fit of these points with the H200 sweep's FLOP-matched trivial points
# (6,666-114,762 parameters x 4 data sizes) and its C8 points.
run() {
  OMP_NUM_THREADS=1 eqnas laws --space docs/results/laws_narrow/laws_resnet_narrow.yaml --groups trivial \
    --sizes "$1" --data-fractions 0.125,0.25,0.5 --max-train 20000 --min-samples 1000000 --max-epochs 40 \
    --patience 8 --lr 0.01 --device cpu --out "$2"
}
run 6.54e2,1.231e3,1.978e3 runs/laws_narrow &
run 3.982e3 runs/laws_narrow_b &
wait
mkdir -p docs/results/laws_narrow/points-trivial-narrow
cat runs/laws_narrow/laws_resnet_narrow-trivial/points.jsonl runs/laws_narrow_b/laws_resnet_narrow-trivial/points.jsonl \
  > docs/results/laws_narrow/points-trivial-narrow/points.jsonl
python benchmarks/fit_law_points.py docs/results/laws_narrow/points-trivial-narrow docs/results/laws_gpu/points-trivial \
  docs/results/laws_gpu/points-C8 --name laws_resnet --holdout-largest 2 --out docs/results/laws_narrow
