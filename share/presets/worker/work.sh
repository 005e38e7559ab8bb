# The worker's periodic job, run with busybox sh once per tick; $1 is the tick
# number. Replace this with the real work; a failure is logged and the loop
# goes on.
echo "worker: tick $1: nothing to do yet (edit work.sh)"
