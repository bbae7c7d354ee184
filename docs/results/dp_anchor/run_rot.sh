#!/bin/sh
# The anchor's recipe on fashion-mnist-rot for the plain CNN and its C8 twin at the same FLOPs,
# in parallel, one torch thread each, from a snapshot of the code (git archive of HEAD) so that
# work on the checkout cannot change a run midway.
rm -rf /tmp/dpa_rot && mkdir -p /tmp/dpa_rot/src && git archive HEAD | tar -x -C /tmp/dpa_rot/src
cd /tmp/dpa_rot/src
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=/tmp/dpa_rot/src
for arch in tramer2021_cnn tramer2021_cnn_c8; do
  ( date -u +%FT%TZ > /tmp/dpa_rot/$arch.start
    /usr/bin/time -v /work/main/.venv/bin/python -m eqnas retrain --arch examples/$arch.json --data fashion-mnist-rot \
      --recipe tramer2021 --val-fraction 0.0166667 --device cpu --out /tmp/dpa_rot/$arch > /tmp/dpa_rot/$arch.log 2>&1
    date -u +%FT%TZ > /tmp/dpa_rot/$arch.end ) &
done
wait
