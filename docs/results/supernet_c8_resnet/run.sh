#!/bin/sh
# Issue 11 on this 2-core CPU, one torch thread per process (2026-12-01).
export OMP_NUM_THREADS=1
# 1. Stand-alone references: 12 architectures of c8_resnet under 100M FLOPs, 3 epochs on 20,000
#    images, test accuracy (seed 0; seed 1 was stopped after two architectures for CPU time).
python benchmarks/rank_fidelity.py --space spaces/c8_resnet.yaml --flops 100M --count 12 --reference 3x20000 \
    --reference-seeds 0,1 --records runs/rank_fidelity/c8_resnet_100M.jsonl --only reference
# 2. The whole of c8_resnet searched at three budgets from one supernet trained within 100M (timed).
/usr/bin/time -v python -m eqnas search --space spaces/c8_resnet.yaml --strategy supernet --flops 40M,60M,100M \
    --trials 100 --supernet-epochs 2 --supernet-images 20000 --device cpu --out runs/c8-sn-cpu/map
# 3. Rank fidelity of that supernet's inherited weights against the references, and its cost
#    against stand-alone steps of its largest subnet within 100M (finds the trained supernet).
python benchmarks/supernet_rank.py --space spaces/c8_resnet.yaml --records runs/rank_fidelity/c8_resnet_100M.jsonl \
    --epochs 2 --images 20000 --kernels map --cap 100M --out runs/c8-sn-cpu \
    --result docs/results/supernet_c8_resnet/rank_map_2x20000_cap100M.json
