"""Counts every c8_resnet subnet's FLOPs into the run folder's flops.json, as a cap does in
eqnas search --strategy supernet since flop_counts.py (the run was trained before that)."""
import sys, time
import torch
torch.set_num_threads(1)
from eqnas.search.flop_filter import FlopFilter
from eqnas.search.space import fit_to_data, load_space
from eqnas.supernet.flop_counts import write_flop_counts
space = fit_to_data(load_space("spaces/c8_resnet.yaml"))
cache = {}
flop_filter = FlopFilter(space, 10**15, _cache=cache)
start = time.process_time()
for sample in space.enumerate():
    flop_filter.flops(sample)
write_flop_counts(sys.argv[1], (), cache)
print(f"{len(cache)} counted, {time.process_time() - start:.0f} CPU s; within 40M/60M/100M:",
      [sum(1 for v in cache.values() if v is not None and v <= b) for b in (40e6, 60e6, 100e6)])
