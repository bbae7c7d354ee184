#!/bin/sh
# the anchor run: eqnas retrain with the tramer2021 recipe, one torch thread (code: commit 14973e0's
# training path, copied to /tmp/dpa/src so that work on the checkout could not change it mid-run)
cd /tmp/dpa/src
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/tmp/dpa/src
date -u +%FT%TZ > /tmp/dpa/full.start
/usr/bin/time -v /work/main/.venv/bin/python -m eqnas retrain --arch examples/tramer2021_cnn.json --data fashion-mnist \
  --recipe tramer2021 --val-fraction 0.0166667 --device cpu --out /tmp/dpa/full
date -u +%FT%TZ > /tmp/dpa/full.end
