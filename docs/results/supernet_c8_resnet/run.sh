#!/bin/sh
# Issue 11 on this 2-core CPU, one torch thread per process (2026-12-01).
export OMP_NUM_THREADS=1
# 1. Stand-alone references: 12 architectures of c8_resnet under 100M FLOPs, 3 epochs on 20,000
#    images, test accuracy (seed 0; seed 1 was stopped after two architectures for CPU time).
#    Two workers: this one, and refs_largest_first.py beside it once step 2 had finished; 69 min of
#    CPU for the twelve (records: references_c8_resnet_100M.jsonl; logs c8_resnet_100M_ref_*.log).
python benchmarks/rank_fidelity.py --space spaces/c8_resnet.yaml --flops 100M --count 12 --reference 3x20000 \
    --reference-seeds 0,1 --records runs/rank_fidelity/c8_resnet_100M.jsonl --only reference
python docs/results/supernet_c8_resnet/refs_largest_first.py
# 2. The whole of c8_resnet searched at three budgets from one supernet trained within 100M (timed).
/usr/bin/time -v python -m eqnas search --space spaces/c8_resnet.yaml --strategy supernet --flops 40M,60M,100M \
    --trials 100 --supernet-epochs 2 --supernet-images 20000 --device cpu --out runs/c8-sn-cpu/map
#    That run (commit 0f15110) kept no FLOP counts; count_flops.py wrote them (360 CPU s), and a
#    resume at commit 5e606e4 then scored every subnet within 40M and 60M (at most --trials fit):
python docs/results/supernet_c8_resnet/count_flops.py runs/c8-sn-cpu/map
python -m eqnas search --space spaces/c8_resnet.yaml --strategy supernet --flops 40M,60M,100M \
    --trials 100 --supernet-epochs 2 --supernet-images 20000 --device cpu --out runs/c8-sn-cpu/map --resume
# 3. Rank fidelity of that supernet's inherited weights against the references, and its cost
#    against stand-alone steps of its largest subnet within 100M (finds the trained supernet).
python benchmarks/supernet_rank.py --space spaces/c8_resnet.yaml --records runs/rank_fidelity/c8_resnet_100M.jsonl \
    --epochs 2 --images 20000 --kernels map --cap 100M --out runs/c8-sn-cpu \
    --result docs/results/supernet_c8_resnet/rank_map_2x20000_cap100M.json
#    and the same with separate coefficients per kernel size (trains its own supernet, 925 CPU s;
#    copy runs/c8-sn-cpu/map/flops.json to runs/c8-sn-cpu/separate/ first to skip the count):
python benchmarks/supernet_rank.py --space spaces/c8_resnet.yaml --records runs/rank_fidelity/c8_resnet_100M.jsonl \
    --epochs 2 --images 20000 --kernels separate --cap 100M --out runs/c8-sn-cpu \
    --result docs/results/supernet_c8_resnet/rank_separate_2x20000_cap100M.json
# 4. The three winners retrained stand-alone with the reference recipe (two torch threads):
OMP_NUM_THREADS=2 python -m eqnas search --space spaces/c8_resnet.yaml --strategy supernet --flops 40M,60M,100M \
    --trials 100 --supernet-epochs 2 --supernet-images 20000 --device cpu --out runs/c8-sn-cpu/map --resume \
    --top-k 1 --reference 3x20000
# 5. Session 8: seed 1 for the last two references (the command of step 1 again), both supernets
#    rescored against the two-seed means, the multi-trial searches and their retrained winners,
#    and three other supernet trainings (variants/README.md):
python benchmarks/supernet_rank.py --space spaces/c8_resnet.yaml --records runs/rank_fidelity/c8_resnet_100M.jsonl \
    --epochs 2 --images 20000 --kernels map,separate --cap 100M --out runs/c8-sn-cpu \
    --result docs/results/supernet_c8_resnet/rank_two_seeds.json
docs/results/supernet_c8_resnet/multi_trial.sh
python docs/results/supernet_c8_resnet/variants/variant.py runs/c8-sn-cpu 2 2 0     # baseline (read back)
python docs/results/supernet_c8_resnet/variants/variant.py runs/c8-sn-L 3 1 0
python docs/results/supernet_c8_resnet/variants/variant.py runs/c8-sn-R3 2 3 0
git apply docs/results/supernet_c8_resnet/variants/frontier.patch   # then, and revert after:
python docs/results/supernet_c8_resnet/variants/variant.py runs/c8-sn-F 2 2 1
python docs/results/supernet_c8_resnet/variants/val_size.py separate,map 500,2000,5000 2,8   # stopped after separate
python docs/results/supernet_c8_resnet/variants/variant.py runs/c8-sn-labels 2 2 0 --labels
# 6. Session 9: references picked from the space's distinct networks (a two-stage network is six
#    samples of c8_resnet, so step 1's pick, from samples, is ten two-stage networks of twelve;
#    of the 153 distinct networks within 100M, 94 have three stages). The one network in both sets
#    was copied from step 1's records; two workers, one per seed, side by side (about 80 min wall):
python - <<'PY'
import json
rows = [json.loads(line) for line in open("runs/rank_fidelity/c8_resnet_100M.jsonl")]
with open("runs/rank_fidelity/c8_resnet_100M_distinct.jsonl", "w") as out:
    for row in rows:
        if row["reference"] and row["key"] == ("num_stages=2|stages.0.depth=1|stages.0.kernel=3|stages.0.width=4|"
                                               "stages.1.depth=1|stages.1.kernel=3|stages.1.width=8|stages.2.depth=1|"
                                               "stages.2.width=16|stem.width=4"):
            out.write(json.dumps(row) + "\n")
PY
python docs/results/supernet_c8_resnet/distinct/refs_worker.py 0 &
python docs/results/supernet_c8_resnet/distinct/refs_worker.py 1
wait
#    (the same records as python benchmarks/rank_fidelity.py --space spaces/c8_resnet.yaml --flops 100M
#    --count 12 --distinct --reference 3x20000 --reference-seeds 0,1 --only reference
#    --records runs/rank_fidelity/c8_resnet_100M_distinct.jsonl)
#    A supernet whose random subnets are drawn from the distinct networks within the cap:
python docs/results/supernet_c8_resnet/variants/variant.py runs/c8-sn-D 2 2 0 --distinct-draws
#    The benchmark on the distinct set, and every supernet on both sets, their union and by stage count:
python benchmarks/supernet_rank.py --space spaces/c8_resnet.yaml --records runs/rank_fidelity/c8_resnet_100M_distinct.jsonl \
    --epochs 2 --images 20000 --kernels map,separate --cap 100M --out runs/c8-sn-cpu \
    --result docs/results/supernet_c8_resnet/distinct/rank_distinct.json
python docs/results/supernet_c8_resnet/distinct/score.py map=runs/c8-sn-cpu/map/supernet/all \
    separate=runs/c8-sn-cpu/separate/supernet/all distinct-draws=runs/c8-sn-D/separate/supernet/all \
    > docs/results/supernet_c8_resnet/distinct/score.log
python docs/results/supernet_c8_resnet/distinct/score.py --val 2000 separate=runs/c8-sn-cpu/separate/supernet/all \
    map=runs/c8-sn-cpu/map/supernet/all > docs/results/supernet_c8_resnet/distinct/score_val2000.log

# 7. Session 10: a supernet per stage count (per_stage_count/README.md), the two side by side,
#    then the control (the first 100 steps of the mixed and the three-stage supernet):
python docs/results/supernet_c8_resnet/per_stage_count/stage_supernet.py 3 2 runs/c8-sn-stages3 \
    > docs/results/supernet_c8_resnet/per_stage_count/stages3_2x20000.log &
python docs/results/supernet_c8_resnet/per_stage_count/stage_supernet.py 2 1 runs/c8-sn-stages2 \
    > docs/results/supernet_c8_resnet/per_stage_count/stages2_1x20000.log
wait
cp runs/c8-sn-stages3/scores.json docs/results/supernet_c8_resnet/per_stage_count/stages3_2x20000.json
cp runs/c8-sn-stages2/scores.json docs/results/supernet_c8_resnet/per_stage_count/stages2_1x20000.json
for which in mixed three; do
    WHICH=$which python docs/results/supernet_c8_resnet/per_stage_count/control.py \
        > docs/results/supernet_c8_resnet/per_stage_count/control_$which.log &
done
wait

# 8. Session 11 (runs/ of earlier sessions gone): the references into runs/rank_fidelity from the
#    committed records, the zero-cost scorers, BigNAS's identity-initialised blocks, the baseline's
#    recipe trained again (variant.py counts the FLOPs once into runs/c8-sn-cpu/map/flops.json),
#    and both scored on the two reference sets by accuracy and by validation loss:
R=docs/results/supernet_c8_resnet
mkdir -p runs/rank_fidelity
# (the two files both hold seed 1 of two networks; supernet_rank.references counts a seed once)
cat $R/references_c8_resnet_100M.jsonl $R/references_seed1_later.jsonl > runs/rank_fidelity/c8_resnet_100M.jsonl
cp $R/distinct/references_distinct.jsonl runs/rank_fidelity/c8_resnet_100M_distinct.jsonl
python $R/zero_cost.py > $R/zero_cost.log
python $R/variants/variant.py runs/c8-sn-zero 2 2 0 --zero-init > $R/variants/zero_init_2x20000.log
python $R/variants/variant.py runs/c8-sn-cpu 2 2 0 > $R/variants/baseline_retrained_2x20000.log
python $R/distinct/score.py zero-init=runs/c8-sn-zero/separate/supernet/all > $R/variants/zero_init_union.log
python $R/distinct/score.py retrained-baseline=runs/c8-sn-cpu/separate/supernet/all > $R/variants/baseline_retrained_union.log
python $R/distinct/score.py --metric loss retrained-baseline=runs/c8-sn-cpu/separate/supernet/all \
    zero-init=runs/c8-sn-zero/separate/supernet/all > $R/variants/by_loss_union.log
#    (score.py writes distinct/score.json and score_loss.json; the committed copies are
#    variants/baseline_retrained_union.json and by_loss_union.json; variant.py's own json files
#    are runs/c8-sn-*/variant_c8_resnet_100M.json, committed as variants/*_2x20000.json)

# 9. Session 12: is the rank error noise or bias? The eight trainings' inherited accuracies
#    averaged (pooled.py), then the teacher that holds every choice within the cap (805M FLOPs:
#    5x5 kernels, 16-field second stage), trained 1x16000 (about the baseline's cost) with two
#    seeds side by side, each scored on the first set and on both sets:
python $R/variants/pooled.py > $R/variants/pooled.log
python $R/variants/variant.py runs/c8-sn-cover 1 2 0 --covering-teacher --images 16000 > $R/variants/covering_1x16000.log &
python $R/variants/variant.py runs/c8-sn-cover-s1 1 2 0 --covering-teacher --images 16000 --seed 1 > $R/variants/covering_1x16000_seed1.log &
wait
cp runs/c8-sn-cover/variant_c8_resnet_100M.json $R/variants/covering_1x16000.json
cp runs/c8-sn-cover-s1/variant_c8_resnet_100M.json $R/variants/covering_1x16000_seed1.json
python $R/distinct/score.py covering=runs/c8-sn-cover/separate/supernet/all \
    covering-seed1=runs/c8-sn-cover-s1/separate/supernet/all > $R/variants/covering_union.log
#    (score.py writes distinct/score.json; the committed copy is variants/covering_union.json)

# 10. Session 12: each step's teacher drawn from the cap's frontier and the random subnets from
#     those it holds (at the baseline's recipe, 2x20000), two seeds side by side:
for s in 0 1; do
    python $R/variants/variant.py runs/c8-sn-ft-s$s 2 2 0 --frontier-teacher --seed $s > $R/variants/frontier_teacher_2x20000_seed$s.log &
done
wait
for s in 0 1; do cp runs/c8-sn-ft-s$s/variant_c8_resnet_100M.json $R/variants/frontier_teacher_2x20000_seed$s.json; done
python $R/distinct/score.py frontier-teacher=runs/c8-sn-ft-s0/separate/supernet/all \
    frontier-teacher-seed1=runs/c8-sn-ft-s1/separate/supernet/all > $R/variants/frontier_teacher_union.log
#    (the committed copy of distinct/score.json: variants/frontier_teacher_union.json)

# 11. Session 13: the same trained supernets scored other ways (no training): the classifier
#     re-fitted on inherited features, 4 and 16 fine-tuning steps of the whole subnet:
python $R/variants/probe.py base=runs/c8-sn-cpu/separate/supernet/all zero=runs/c8-sn-zero/separate/supernet/all \
    ft0=runs/c8-sn-ft-s0/separate/supernet/all > $R/variants/probe.log
python $R/variants/probe.py --steps 16 --methods finetune --group samples base=runs/c8-sn-cpu/separate/supernet/all \
    zero=runs/c8-sn-zero/separate/supernet/all ft0=runs/c8-sn-ft-s0/separate/supernet/all > $R/variants/probe_steps16.log

# 12. Session 13: does more cost help? The baseline's recipe trained twice as long (4x20000, about
#     4.5 reference trainings) and the covering teacher at the baseline's length (2x20000, 5.11
#     reference trainings by its own timing), side by side:
python $R/variants/variant.py runs/c8-sn-long4 4 2 0 > $R/variants/baseline_4x20000.log &
python $R/variants/variant.py runs/c8-sn-cover-2x 2 2 0 --covering-teacher > $R/variants/covering_2x20000.log &
wait
cp runs/c8-sn-long4/variant_c8_resnet_100M.json $R/variants/baseline_4x20000.json
cp runs/c8-sn-cover-2x/variant_c8_resnet_100M.json $R/variants/covering_2x20000.json

# seed_pair NAME FLAGS...: variant.py with FLAGS at the baseline's recipe (2x20000), seeds 0 and 1
# side by side; the pair pooled against the line and scored on both reference sets (steps 13-14).
seed_pair() {
    name=$1; shift
    for s in 0 1; do
        python $R/variants/variant.py runs/c8-sn-$name-s$s 2 2 0 "$@" --seed $s > $R/variants/${name}_2x20000_seed$s.log &
    done
    wait
    for s in 0 1; do cp runs/c8-sn-$name-s$s/variant_c8_resnet_100M.json $R/variants/${name}_2x20000_seed$s.json; done
    python $R/variants/pooled.py ${name}_2x20000_seed0.json ${name}_2x20000_seed1.json > $R/variants/${name}_pooled.log
    python $R/distinct/score.py $name=runs/c8-sn-$name-s0/separate/supernet/all \
        $name-seed1=runs/c8-sn-$name-s1/separate/supernet/all > $R/variants/${name}_union.log
    cp $R/distinct/score.json $R/variants/${name}_union.json && git checkout $R/distinct/score.json
}

# 13. Session 14: how often each choice's weights are trained under each variant's draws (no
#     training); then three ways of drawing the random subnets, each at the baseline's recipe
#     (2x20000) with seeds 0 and 1 side by side: both kernel sizes of stages 0 and 1 and both
#     widths of stage 1 equally likely (--balanced-draws); the first random subnet so and the
#     second as eqnas draws it (--half); every choice's own weights in as many draws as the cap
#     allows (--floored-draws). Each pair pooled against the line and scored on both reference sets.
python $R/variants/exposure.py > $R/variants/exposure.log
for draws in "balanced --balanced-draws" "half_balanced --balanced-draws --half" "floored --floored-draws"; do
    set -- $draws; seed_pair "$@"
done
#    (the run folders were runs/c8-sn-bal-s*, c8-sn-half-s*, c8-sn-floor-s*; the names in the
#    union logs "balanced", "half" and "floored")

# 14. Session 15: each weight's update scaled by the inverse of the share of the steps in which it
#     had a gradient (at most 3x), so a rarely drawn choice's own weights move as far as the shared
#     ones without changing the draws (--compensated-lr 3); then the same with the half-balanced
#     draws of step 13. Seeds 0 and 1 side by side, each pair pooled and scored on both reference
#     sets. Then, from every training's committed JSON (no training), how much per-network error the
#     bar leaves and how much each training has (error_budget.py).
for arm in "compensated --compensated-lr 3" "half_compensated --balanced-draws --half --compensated-lr 3"; do
    set -- $arm; seed_pair "$@"
done
#    The last recipe trained twice more (seeds 2 and 3, side by side), the four pooled:
for s in 2 3; do
    python $R/variants/variant.py runs/c8-sn-half_compensated-s$s 2 2 0 --balanced-draws --half --compensated-lr 3 \
        --seed $s > $R/variants/half_compensated_2x20000_seed$s.log &
done
wait
for s in 2 3; do cp runs/c8-sn-half_compensated-s$s/variant_c8_resnet_100M.json $R/variants/half_compensated_2x20000_seed$s.json; done
python $R/variants/pooled.py half_compensated_2x20000_seed0.json half_compensated_2x20000_seed1.json \
    half_compensated_2x20000_seed2.json half_compensated_2x20000_seed3.json > $R/variants/half_compensated_four_pooled.log
python $R/distinct/score.py half_compensated-seed2=runs/c8-sn-half_compensated-s2/separate/supernet/all \
    half_compensated-seed3=runs/c8-sn-half_compensated-s3/separate/supernet/all > $R/variants/half_compensated_seeds23_union.log
cp $R/distinct/score.json $R/variants/half_compensated_seeds23_union.json && git checkout $R/distinct/score.json
python $R/variants/error_budget.py > $R/variants/error_budget.log
#    (the run folders were runs/c8-sn-comp-s* and c8-sn-halfcomp-s*)
