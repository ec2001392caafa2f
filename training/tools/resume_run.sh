#!/usr/bin/env bash
# Starts a long run in the background, or resumes it when its run directory already holds last.pt, niced so that
# interactive work and tests keep the CPU: training/tools/resume_run.sh NAME [CONFIG] [--set KEY=VALUE]...
# (--set on a resume changes those keys of the run's config and prints each change, e.g. --set epochs=120)
# Runs live outside the repository, in ~/.cache/fer-edge/runs/NAME (training/runs may link there); the log is
# appended to NAME/train.log.
set -euo pipefail
name="${1:?usage: resume_run.sh NAME [CONFIG] [--set KEY=VALUE]...}"
shift
config="configs/$name.json"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then config="$1"; shift; fi
sets=("$@")
cd "$(dirname "$0")/.."
runs="${FER_RUNS:-$HOME/.cache/fer-edge/runs}"
mkdir -p "$runs/$name"
[ -e runs ] || ln -s "$runs" runs
if pgrep -f "fer_train.train .*--out runs/$name( |$)" >/dev/null; then echo "run $name is already running"; exit 0; fi
# A run that has ended is left alone: resuming it would train no epoch but write final.pt again (and score PublicTest
# again), and a new final.pt, even byte-different only, makes a release job waiting on it start over. Training it
# further is a deliberate --set epochs=N.
if [ -f "$runs/$name/final.pt" ] && [ ${#sets[@]} -eq 0 ]; then
  echo "run $name has ended: $runs/$name/final.pt exists, nothing to resume (to train on: resume_run.sh $name --set epochs=N)"
  exit 0
fi
if [ -f "$runs/$name/last.pt" ]; then
  args=(--out "runs/$name" --resume "${sets[@]}")
else
  args=(--config "$config" --out "runs/$name" "${sets[@]}")
fi
setsid nohup nice -n 19 python3 -m fer_train.train "${args[@]}" >> "$runs/$name/train.log" 2>&1 < /dev/null &
pid=$!
# With the kernel's autogroup scheduling on, a process's nice value counts only inside its own session, and setsid
# gives the run a session of its own: at nice 19 it still took half the CPU from a shell's tests. The session's
# autogroup gets the nice value too, once setsid has made it (never before: that would be this shell's group).
if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
  for _ in $(seq 50); do
    group=$(cut -d' ' -f1 "/proc/$pid/autogroup" 2>/dev/null) || break
    if [ "$group" != "$(cut -d' ' -f1 /proc/$$/autogroup)" ]; then echo 19 > "/proc/$pid/autogroup" && break; fi
    sleep 0.1
  done
fi
echo "run $name: ${args[*]} (pid $pid, log: $runs/$name/train.log)"
