#!/bin/sh
# the anchor run: eqnas retrain with the tramer2021 recipe, one torch thread
cd /tmp/dpa/src
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/tmp/dpa/src
date -u +%FT%TZ > /tmp/dpa/runA.start
/usr/bin/time -v /work/main/.venv/bin/python -m eqnas retrain --arch examples/tramer2021_cnn.json --data fashion-mnist \
  --recipe tramer2021 --val-fraction 0.0166667 --device cpu --out /tmp/dpa/runA
date -u +%FT%TZ > /tmp/dpa/runA.end
