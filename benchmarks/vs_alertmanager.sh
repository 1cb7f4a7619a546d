#!/usr/bin/env bash
# Our service against Prometheus Alertmanager 0.25 (issue 6) and against the ceiling apps (benchmarks/ceiling.py),
# one after the other on the SAME alert stream, in ONE run, on this machine. It drives the peer's load generator
# (/work/shared/tools/alertmanager-peer/loadgen.py) exactly as the peer measurement (run.sh there) does.
#
#   bash benchmarks/vs_alertmanager.sh                        # every point (~10 min on 2 cores)
#   QUICK=1 bash benchmarks/vs_alertmanager.sh                # smoke run: a few seconds per point (~2 min)
#   PHASES=throughput DUR=20 bash benchmarks/vs_alertmanager.sh
#   MODES="embedded distributed" bash benchmarks/vs_alertmanager.sh   # also ours on PostgreSQL + NATS (+ Redis)
#
# Points (PHASES, any of "throughput single rate memory"):
#   throughput  closed loop, batch $BATCH (100), $CONC (8) connections, --format am-v2 to /api/v2/alerts, $DUR s
#   single      closed loop, batch 1, $SINGLE_CLIENT (raw) client, $SINGLE_CONC (8) connections, $SINGLE_DUR s
#   rate        open loop, $RATE (2000) alerts/s in batches of $RATE_BATCH (10), $RATE_CONC (8) connections,
#               $RATE_DUR (30) s; latency from the scheduled send time (no coordinated omission); every target
#               $RATE_REPEAT (3) times, interleaved (AM, ours, AM, ours, ...): a p99 is one run's 1 % tail, and a
#               shared machine's disk or CPU stalls land in some runs only, so the summary quotes the median run
#   memory      fill $FILL_COUNT (100k) unique alerts (endsAt = now+1h); RSS before and after, bytes per alert
# Targets: Alertmanager (fresh storage each point, the peer's alertmanager.yml and webhook sink), ours (`lim serve`,
# a fresh SQLite database each point; with MODES including distributed, a fresh PostgreSQL database with NATS and
# Redis), and the ceilings raw / litestar-asgi / litestar (throughput and single only).
# Each point feeds every target the same stream: same --seed, --run-tag, batch, connections, client, duration.
#
# Results: one loadgen JSON per point and target, memory.jsonl, machine.txt, logs/ and summary.md in $RES
# (default /tmp/lim-vs-am/<UTC timestamp>); the summary is printed at the end.
# Everything listens on and targets 127.0.0.1. Every process this script starts is stopped by its PID (trap).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PEER=${PEER:-/work/shared/tools/alertmanager-peer}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then q() { printf '%s' "$1"; }; else q() { printf '%s' "$2"; }; fi   # q QUICK FULL

RES=${RES:-/tmp/lim-vs-am/$(date -u +%Y%m%dT%H%M%SZ)}
WORK=${WORK:-$RES/work}              # scratch: Alertmanager storage, SQLite databases (removed after each point)
PHASES=${PHASES:-"throughput single rate memory"}
MODES=${MODES:-embedded}             # ours: embedded (SQLite) and/or distributed (PostgreSQL + NATS + Redis)
CEILINGS=${CEILINGS-"raw litestar-asgi litestar"}   # CEILINGS= for none
SEED=${SEED:-1}
CLIENT=${CLIENT:-raw}                # loadgen client for throughput and rate: raw | aiohttp
DUR=${DUR:-$(q 3 20)}                # seconds per throughput point
BATCH=${BATCH:-100}
CONC=${CONC:-8}
SINGLE_CLIENT=${SINGLE_CLIENT:-raw}
SINGLE_DUR=${SINGLE_DUR:-$DUR}
SINGLE_CONC=${SINGLE_CONC:-8}
RATE=${RATE:-2000}                   # alerts/s offered in the rate point
RATE_BATCH=${RATE_BATCH:-10}
RATE_CONC=${RATE_CONC:-8}
RATE_DUR=${RATE_DUR:-$(q 5 30)}
RATE_REPEAT=${RATE_REPEAT:-$(q 1 3)}
FILL_COUNT=${FILL_COUNT:-$(q 10000 100000)}
FILL_BATCH=${FILL_BATCH:-100}
FILL_CONC=${FILL_CONC:-4}
FILL_CLIENT=${FILL_CLIENT:-aiohttp}  # as the peer's memory measurement
FILL_TIMEOUT=${FILL_TIMEOUT:-$(q 180 900)}
MEM_SETTLE=${MEM_SETTLE:-$(q 2 5)}   # seconds after start before the baseline samples
MEM_WAIT=${MEM_WAIT:-$(q 3 10)}      # seconds after the fill before the "filled" samples
MEM_SAMPLES=${MEM_SAMPLES:-$(q 3 7)}
MEM_EVERY=${MEM_EVERY:-$(q 1 5)}
TAIL=${TAIL:-$(q 2 7)}               # seconds after the load before reading the webhook sink
TIMEOUT_PAD=${TIMEOUT_PAD:-90}       # a loadgen run is killed after its duration + tail + this
AM_PORT=${AM_PORT:-9093}
SINK_PORT=9999                       # fixed: it is in the peer's alertmanager.yml
OURS_PORT=${OURS_PORT:-19080}
CEIL_PORT=${CEIL_PORT:-19091}
OURS_CONFIG=${OURS_CONFIG-$PEER/alertmanager.yml}   # ours routes like AM, to the same sink; OURS_CONFIG= for none
PG_URL=${PG_URL:-postgresql://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
KEEP_DB=${KEEP_DB:-0}                # 1: keep the SQLite files and PostgreSQL databases of each point
LIM="$ROOT/.venv/bin/lim"
SVC_PY="$ROOT/.venv/bin/python"
LG="$PEER/loadgen.py"
SINK="http://127.0.0.1:$SINK_PORT"

TARGET_PID=; TARGET_NAME=; SINK_PID=
WORKER_PIDS=()
PG_DBS=()
POINT=0

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# -- processes -------------------------------------------------------------------------------------------------------
children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '; }

descendants() { # pid -> the pid and every descendant, one a line
  local c
  echo "$1"
  for c in $(children "$1"); do descendants "$c"; done
}

stop_pid() { # pid [grace s]: TERM, wait, then KILL; only that pid
  local p=$1 grace=${2:-20} i
  [ -n "$p" ] || return 0
  kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null; return 0; }
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < grace * 10; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then log "pid $p did not stop in ${grace}s: KILL"; kill -KILL "$p" 2>/dev/null; fi
  wait "$p" 2>/dev/null
  return 0
}

stop_target() {
  local w
  if [ -n "$TARGET_PID" ]; then stop_pid "$TARGET_PID"; fi
  for w in "${WORKER_PIDS[@]}"; do stop_pid "$w" 5; done   # a worker left behind by a killed granian main
  TARGET_PID=; TARGET_NAME=; WORKER_PIDS=()
}

drop_dbs() {
  local d
  [ "$KEEP_DB" = 1 ] && return 0
  for d in "${PG_DBS[@]}"; do dropdb -h 127.0.0.1 -U postgres --if-exists "$d" 2>/dev/null; done
  PG_DBS=()
}

cleanup() {
  stop_target
  if [ -n "$SINK_PID" ]; then stop_pid "$SINK_PID" 5; SINK_PID=; fi
  drop_dbs
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() { # url [seconds] (gives up early if the target died)
  local i n=$(( ${2:-30} * 10 ))
  for ((i = 0; i < n; i++)); do
    curl -sf -o /dev/null --max-time 2 "$1" && return 0
    if [ -n "$TARGET_PID" ] && ! kill -0 "$TARGET_PID" 2>/dev/null; then log "$TARGET_NAME exited"; return 1; fi
    sleep 0.1
  done
  log "timeout waiting for $1"; return 1
}

# -- setup -----------------------------------------------------------------------------------------------------------
setup() {
  mkdir -p "$RES/logs" "$WORK" || die "cannot create $RES"
  [ -x "$LIM" ] || die "$LIM is missing: run make build (or wait for it)"
  [ -f "$LG" ] || die "no loadgen at $LG (set PEER)"
  if ! command -v prometheus-alertmanager >/dev/null; then
    log "installing prometheus-alertmanager (make test-peers)"
    make -C "$ROOT" -s test-peers >&2
    command -v prometheus-alertmanager >/dev/null || die "prometheus-alertmanager is not installed"
  fi
  # the load generator's interpreter: the project's venv when it has aiohttp, else /tmp/amvenv like the peer's run.sh
  if [ -z "${LG_PY:-}" ]; then
    if "$SVC_PY" -c 'import aiohttp' 2>/dev/null; then
      LG_PY=$SVC_PY
    else
      [ -x /tmp/amvenv/bin/python ] || python3 -m venv /tmp/amvenv || die "cannot create /tmp/amvenv"
      /tmp/amvenv/bin/python -c 'import aiohttp, uvloop' 2>/dev/null || /tmp/amvenv/bin/pip install -q aiohttp uvloop
      LG_PY=/tmp/amvenv/bin/python
    fi
  fi
  "$LG_PY" -c 'import aiohttp' || die "$LG_PY has no aiohttp"
  case " $MODES " in *" distributed "*)
    pg_isready -q -h 127.0.0.1 -p 5432 || die "distributed mode: PostgreSQL is not answering on 127.0.0.1:5432"
    (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null || die "distributed mode: NATS is not answering on 127.0.0.1:4222"
    ;;
  esac
  local p
  for p in "$SINK_PORT" "$AM_PORT" "$OURS_PORT" "$CEIL_PORT"; do
    port_free "$p" || die "port $p is busy (set AM_PORT / OURS_PORT / CEIL_PORT; 9999 is fixed by alertmanager.yml)"
  done
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "loadavg_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "kernel: $(uname -r)"
    echo "alertmanager: $(prometheus-alertmanager --version 2>&1 | head -1)"
    echo "service: $("$LIM" version 2>&1 | head -1), git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)" \
      "($(git -C "$ROOT" status --short -- python rust 2>/dev/null | wc -l) uncommitted paths under python/ rust/)"
    echo "service_python: $("$SVC_PY" -c 'import sys; from importlib.metadata import version as v
print(sys.version.split()[0], *(f"{p} {v(p)}" for p in ("granian", "litestar", "msgspec")))')"
    echo "loadgen_python: $LG_PY ($("$LG_PY" -c 'import aiohttp; print("aiohttp", aiohttp.__version__)'),"\
      "uvloop $("$LG_PY" -c 'import uvloop; print(uvloop.__version__)' 2>/dev/null || echo none))"
    echo "quick: $QUICK"
    echo "modes: $MODES"
    echo "ours_config: ${OURS_CONFIG:-none}"
    echo "phases: $PHASES"
  } >"$RES/machine.txt"
  "$LG_PY" "$PEER/sink.py" --port "$SINK_PORT" --mode webhook >"$RES/logs/sink.log" 2>&1 &
  SINK_PID=$!
  wait_http "$SINK/stats" 15 || die "the webhook sink did not start"
  log "results in $RES; sink pid=$SINK_PID; loadgen python $LG_PY"
}

# -- targets: start_<kind> sets TARGET_PID, TARGET_NAME, WORKER_PIDS, and URL / READY / HEADER_ARGS for loadgen ------
start_am() {
  POINT=$((POINT + 1))
  port_free "$AM_PORT" || die "port $AM_PORT busy"
  rm -rf "$WORK/am-data"; mkdir -p "$WORK/am-data"
  prometheus-alertmanager --config.file="$PEER/alertmanager.yml" --storage.path="$WORK/am-data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= --log.level=warn \
    >>"$RES/logs/alertmanager.log" 2>&1 &
  TARGET_PID=$!; TARGET_NAME=alertmanager; WORKER_PIDS=()
  URL="http://127.0.0.1:$AM_PORT/api/v2/alerts"; READY="http://127.0.0.1:$AM_PORT/-/ready"; HEADER_ARGS=()
  METRICS_ARGS=(--metrics-url "http://127.0.0.1:$AM_PORT/metrics")
  wait_http "$READY" 30
}

start_ours() { # mode: embedded | distributed
  local mode=$1 key db dir
  POINT=$((POINT + 1))
  port_free "$OURS_PORT" || die "port $OURS_PORT busy"
  dir="$WORK/ours-$POINT"; rm -rf "$dir"; mkdir -p "$dir"
  local -a env=(LIM_HOST=127.0.0.1 "LIM_PORT=$OURS_PORT")
  [ -n "$OURS_CONFIG" ] && env+=("LIM_CONFIG=$OURS_CONFIG")
  if [ "$mode" = distributed ]; then
    db="lim_vsam_$(date -u +%H%M%S)_$$_$POINT"
    createdb -h 127.0.0.1 -U postgres "$db" || { log "createdb $db failed"; return 1; }
    PG_DBS+=("$db")
    env+=("LIM_DATABASE_URL=$PG_URL/$db" "LIM_REDIS_URL=$REDIS_URL" "LIM_NATS_URL=$NATS_URL")
  else
    env+=("LIM_DATABASE_URL=sqlite:///$dir/lim.db")   # absolute path: four slashes
  fi
  key=$(cd "$dir" && env "${env[@]}" "$LIM" keys create --role ingest --name bench 2>>"$RES/logs/ours.log") \
    || { log "lim keys create failed (see $RES/logs/ours.log)"; return 1; }
  (cd "$dir" && exec env "${env[@]}" "$LIM" serve) >>"$RES/logs/ours.log" 2>&1 &
  TARGET_PID=$!; TARGET_NAME="ours-$mode"; WORKER_PIDS=()
  URL="http://127.0.0.1:$OURS_PORT/api/v2/alerts"; READY="http://127.0.0.1:$OURS_PORT/health/ready"
  HEADER_ARGS=(--header "Authorization: Bearer $key"); METRICS_ARGS=()
  wait_http "$READY" 60 || return 1
  mapfile -t WORKER_PIDS < <(descendants "$TARGET_PID" | tail -n +2)
}

start_ceiling() { # app
  POINT=$((POINT + 1))
  port_free "$CEIL_PORT" || die "port $CEIL_PORT busy"
  (cd "$ROOT" && exec "$SVC_PY" -m benchmarks.ceiling --app "$1" --port "$CEIL_PORT") >>"$RES/logs/ceiling.log" 2>&1 &
  TARGET_PID=$!; TARGET_NAME="ceiling-$1"; WORKER_PIDS=()
  URL="http://127.0.0.1:$CEIL_PORT/api/v2/alerts"; READY="http://127.0.0.1:$CEIL_PORT/health/live"
  HEADER_ARGS=(); METRICS_ARGS=()
  wait_http "$READY" 30 || return 1
  mapfile -t WORKER_PIDS < <(descendants "$TARGET_PID" | tail -n +2)
}

start_target() { # target name: alertmanager | ours-embedded | ours-distributed | ceiling-<app>
  case "$1" in
    alertmanager) start_am ;;
    ours-*) start_ours "${1#ours-}" ;;
    ceiling-*) start_ceiling "${1#ceiling-}" ;;
    *) die "unknown target $1" ;;
  esac
}

end_target() { # stop the target and remove its scratch database
  stop_target
  if [ "$KEEP_DB" != 1 ]; then rm -rf "$WORK/ours-$POINT" "$WORK/am-data"; drop_dbs; fi
}

watch_args() { # --watch for the target's processes: target (main), target.w<i> (granian workers), sink
  local i=0 w
  WATCH=(--watch "target=$TARGET_PID")
  for w in "${WORKER_PIDS[@]}"; do i=$((i + 1)); WATCH+=(--watch "target.w$i=$w"); done
  case "$TARGET_NAME" in ceiling-*) ;; *) WATCH+=(--watch "sink=$SINK_PID") ;; esac
}

sink_args() { # the webhook sink only where something sends webhooks to it
  case "$TARGET_NAME" in ceiling-*) SINK_ARGS=() ;; *) SINK_ARGS=(--sink "$SINK" --tail "$TAIL") ;; esac
}

lg() { # seconds-bound, then the loadgen arguments; its JSON goes to --out, one line to stderr
  local bound=$1; shift
  timeout --foreground -k 10 "$bound" "$LG_PY" "$LG" "$@" >/dev/null
  local rc=$?
  [ "$rc" = 0 ] || log "loadgen exited $rc (124 = killed by the ${bound}s bound)"
  return "$rc"
}

targets_for() { # phase -> the targets it runs
  local t out=alertmanager
  for t in $MODES; do out+=" ours-$t"; done
  case "$1" in throughput | single) for t in $CEILINGS; do out+=" ceiling-$t"; done ;; esac
  echo "$out"
}

# -- points ----------------------------------------------------------------------------------------------------------
closed_point() { # phase client batch conc dur
  local phase=$1 client=$2 batch=$3 conc=$4 dur=$5 t tag
  tag="vsam-$phase-b${batch}c${conc}"
  for t in $(targets_for "$phase"); do
    log "$phase: $t (batch $batch, $conc conns, $client, ${dur}s)"
    if start_target "$t"; then
      watch_args; sink_args
      lg $(( ${dur%.*} + TAIL + TIMEOUT_PAD )) --client "$client" --url "$URL" --format am-v2 --mode throughput \
        --batch "$batch" --conc "$conc" --duration "$dur" --seed "$SEED" --run-tag "$tag" --warm-url "$READY" \
        --timeout 30 "${HEADER_ARGS[@]}" "${WATCH[@]}" "${SINK_ARGS[@]}" "${METRICS_ARGS[@]}" \
        --label "$t" --out "$RES/${phase}_$t.json"
    else
      log "$t did not start: skipped"
    fi
    end_target
  done
}

phase_throughput() { closed_point throughput "$CLIENT" "$BATCH" "$CONC" "$DUR"; }

phase_single() { closed_point single "$SINGLE_CLIENT" 1 "$SINGLE_CONC" "$SINGLE_DUR"; }

phase_rate() {
  local t k tag="vsam-rate-r${RATE}b${RATE_BATCH}"
  for ((k = 1; k <= RATE_REPEAT; k++)); do
    for t in $(targets_for rate); do
      log "rate, run $k of $RATE_REPEAT: $t ($RATE alerts/s, batch $RATE_BATCH, $RATE_CONC conns, $CLIENT, ${RATE_DUR}s)"
      if start_target "$t"; then
        watch_args; sink_args
        lg $(( ${RATE_DUR%.*} + TAIL + TIMEOUT_PAD )) --client "$CLIENT" --url "$URL" --format am-v2 --mode rate \
          --rate "$RATE" --batch "$RATE_BATCH" --conc "$RATE_CONC" --duration "$RATE_DUR" --seed "$SEED" \
          --run-tag "$tag" --warm-url "$READY" --timeout 30 "${HEADER_ARGS[@]}" "${WATCH[@]}" "${SINK_ARGS[@]}" \
          "${METRICS_ARGS[@]}" --label "$t" --out "$RES/rate-r${k}_$t.json"
      else
        log "$t did not start: skipped"
      fi
      end_target
    done
  done
}

mem_sample() { # label -> one JSON line in memory.jsonl: RSS of the target's process tree (granian main + workers)
  local label=$1 p kb total=0 main=0 workers=0 pids=() heap=null active=null
  mapfile -t pids < <(descendants "$TARGET_PID")
  for p in "${pids[@]}"; do
    kb=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null); kb=${kb:-0}
    total=$((total + kb * 1024))
    if [ "$p" = "$TARGET_PID" ]; then main=$((kb * 1024)); else workers=$((workers + kb * 1024)); fi
  done
  if [ "$TARGET_NAME" = alertmanager ]; then
    local m
    m=$(curl -sf --max-time 10 "http://127.0.0.1:$AM_PORT/metrics")
    heap=$(awk '/^go_memstats_heap_inuse_bytes /{printf "%d", $2}' <<<"$m"); heap=${heap:-null}
    active=$(awk '/^alertmanager_alerts\{state="active"\} /{printf "%d", $2}' <<<"$m"); active=${active:-null}
  fi
  printf '{"target":"%s","label":"%s","ts":%s,"pids":[%s],"rss_total":%d,"rss_main":%d,"rss_workers":%d,"go_heap_inuse":%s,"am_active":%s}\n' \
    "$TARGET_NAME" "$label" "$(date +%s.%N)" "$(IFS=,; echo "${pids[*]}")" "$total" "$main" "$workers" "$heap" \
    "$active" >>"$RES/memory.jsonl"
}

phase_memory() {
  local t i
  for t in $(targets_for memory); do
    log "memory: $t (fill $FILL_COUNT unique alerts, batch $FILL_BATCH, $FILL_CONC conns, $FILL_CLIENT)"
    if start_target "$t"; then
      sleep "$MEM_SETTLE"
      for ((i = 0; i < 3; i++)); do mem_sample baseline; sleep 1; done
      watch_args
      lg "$FILL_TIMEOUT" --client "$FILL_CLIENT" --url "$URL" --format am-v2 --mode fill --count "$FILL_COUNT" \
        --batch "$FILL_BATCH" --conc "$FILL_CONC" --ends-in 3600 --seed "$SEED" --run-tag "vsam-mem" \
        --warm-url "$READY" --timeout 60 "${HEADER_ARGS[@]}" "${WATCH[@]}" --label "$t" --out "$RES/fill_$t.json"
      sleep "$MEM_WAIT"
      for ((i = 0; i < MEM_SAMPLES; i++)); do mem_sample filled; sleep "$MEM_EVERY"; done
    else
      log "$t did not start: skipped"
    fi
    end_target
  done
}

main() {
  setup
  local ph
  for ph in $PHASES; do
    case "$ph" in throughput | single | rate | memory) ;; *) die "unknown phase $ph" ;; esac
    log "phase $ph"
    "phase_$ph"
  done
  stop_pid "$SINK_PID" 5; SINK_PID=
  "$SVC_PY" "$HERE/vs_alertmanager_report.py" "$RES" >"$RES/summary.md" || die "the summary failed"
  cat "$RES/summary.md"
  log "results in $RES"
}

main "$@"
