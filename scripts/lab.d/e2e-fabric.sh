# The fabric checks of scripts/e2e (sourced; uses its pass/fail/check): `scripts/lab --fabric`
# with E2E_FABRIC_ROUTES routes (default 500), E2E_FABRIC_CHANGES single changes (default 20).
# See docs/e2e.md, "The fabric".

FAB="$LAB --fabric"
FROUTES=${E2E_FABRIC_ROUTES:-500}
FCHANGES=${E2E_FABRIC_CHANGES:-20}
# Every check waits for all eight leaves, leaf8 (GoBGP + watch --bmp) included
# (E2E_FABRIC_GOBGP_FEED=monitor: the watch follows `gobgp monitor` instead, which formats each
# path with its UPDATE's whole MP_REACH and is the slowest to take a load; docs/e2e.md).
FLEAVES=(leaf1 leaf2 leaf3 leaf4 leaf5 leaf6 leaf7 leaf8)
# E2E_FABRIC_WAIT_GOBGP=0: the checks leave leaf8 out, and it runs gobgpd alone (no watch: with
# `gobgp monitor` at 50,000 routes its gobgp CLI reads took the VM's memory, docs/e2e.md).
[ "${E2E_FABRIC_WAIT_GOBGP:-1}" = 1 ] || FLEAVES=(leaf1 leaf2 leaf3 leaf4 leaf5 leaf6 leaf7)
FID=fsf$$
FRUN=${LAB_BASE:-/run/fsn-e2e}/$FID

fab() { LAB_ID=$FID $FAB "$@"; }
fnsx() { local n=$1; shift; ip netns exec "$FID-$n" "$@"; }
h1_tcp() { fnsx h1 python3 "$D/probe.py" tcp 203.0.113.10 "$1" "${2:-1}"; }
now() { date +%s.%N; }
# The controller's commit: the time of its log's last "Reconfigured" at or after $1 (birdc
# configure returns after it). Changes are timed from there: BIRD first parses its whole
# configuration, ~0.2 s with 50,000 routes, which is the controller's time, not the fabric's.
# Each such parse time goes to $FRUN/ctl-parse.txt.
ctl_commit() {
  local t
  t=$(python3 - "$FRUN/ctl/bird.log" "$1" <<'PY'
import datetime, sys
t0, best = float(sys.argv[2]), None
for line in open(sys.argv[1], errors="replace"):
    if "Reconfigured" not in line: continue
    try: t = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
    except ValueError: continue
    if t >= t0 - 0.001: best = t
print("%.3f" % (best if best is not None else t0))
PY
)
  awk -v a="$1" -v b="$t" 'BEGIN{printf "%.3f\n", b-a}' >> "$FRUN/ctl-parse.txt"
  echo "$t"
}
fab_cleanup() { [ "${E2E_KEEP:-0}" = 1 ] && { echo "fabric lab $FID kept"; return; }; fab down >/dev/null 2>&1 || true; }
# the leaves' logs, for fabric-wait.py: NAME=LOG[=CONDITION] per leaf into SPECS (%s: the leaf)
fwait_specs() { local n; SPECS=(); for n in "${FLEAVES[@]}"; do SPECS+=("$n=$FRUN/$n/daemon.log${1:+=${1//%s/$n}}"); done; }
# Established peers in a listen leaf's status file
leaf_established() { python3 -c 'import json,sys; print(sum(1 for p in json.load(open(sys.argv[1]))["peers"] if p["state"] == "Established"))' "$FRUN/$1/status.json"; }
# p50 and max of the numbers on stdin
stats() { sort -n | awk '{v[NR]=$1} END {if (NR) printf "p50 %.3f max %.3f (n=%d)", v[int((NR+1)/2)], v[NR], NR}'; }
rack_fps_ok() { # every odd leaf has leaf1's table, every even leaf leaf2's, and the two differ
  local a b n i=0; a=$(fab fp leaf1); b=$(fab fp leaf2)
  [ "$a" != "$b" ] && [[ "$a" == "routes=$1 "* ]] || return 1
  for n in "${FLEAVES[@]}"; do i=$((i + 1)); [ "$(fab fp "$n")" = "$([ $((i % 2)) = 1 ] && echo "$a" || echo "$b")" ] || return 1; done
}
# wait_idle NAME SECONDS: NAME's watch has caught up with its speaker: it used less than 0.1 s
# of CPU in one second (leaf8's `gobgp monitor` lines come for a while after the routes are in:
# every path the reflectors send again is printed again).
wait_idle() {
  local pid end a b; pid=$(cat "$FRUN/$1/watch.pid" 2>/dev/null) || return 1; end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    a=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || return 1; sleep 1
    b=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ $((b - a)) -lt 10 ] && return 0
  done
  return 1
}
all_fps() { local n; for n in "${FLEAVES[@]}"; do echo "$n $(fab fp "$n")"; done; }
# nft monitor in every leaf's namespace, into $FRUN/NAME/monitor-TAG.txt; stop with stop_monitors
start_monitors() { local n; MONS=(); for n in "${FLEAVES[@]}"; do fnsx "$n" nft monitor ruleset > "$FRUN/$n/monitor-$1.txt" 2>&1 & MONS+=($!); done; sleep 0.5; }
stop_monitors() { local p; for p in "${MONS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; MONS=(); }
monitor_quiet() { local n; for n in "${FLEAVES[@]}"; do grep -Eq '^(add|delete|flush|replace|destroy) ' "$FRUN/$n/monitor-$1.txt" && return 1; done; return 0; }

echo "fabric lab $FID: $FROUTES routes, $FCHANGES changes, rr1 ${E2E_FABRIC_RR1:-frr}"
trap 'fab_cleanup; cleanup' EXIT
t0=$(now)
if ! FABRIC_GOBGP_FEED=${E2E_FABRIC_GOBGP_FEED:-bmp} FABRIC_RR1=${E2E_FABRIC_RR1:-frr} FABRIC_WAIT_GOBGP=${E2E_FABRIC_WAIT_GOBGP:-1} FABRIC_ROUTES=$FROUTES LAB_WAIT=$((90 + FROUTES / 500)) fab up >"/tmp/e2e-$FID-up.log" 2>&1; then
  cat "/tmp/e2e-$FID-up.log"; rm -f "/tmp/e2e-$FID-up.log"
  fail "fabric: lab up (controller, 2 reflectors, 8 leaves)"; return 0
fi
rm -f "/tmp/e2e-$FID-up.log"
pass "fabric: lab up: every leaf peers with both reflectors and installed the controller's routes"
echo "time: fabric up $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s"

# ------------------------------------------------------------------ route targets
check "fabric: per-rack policy: odd leaves (listen, FRR) hold one table, even leaves (listen, GoBGP) another" rack_fps_ok $((FROUTES + 1))
check "fabric: rack A route (65309:1, :9100) on leaf1 only, rack B route (65309:2, :3260) on leaf2 only" eval \
  'fab show leaf1 | grep "destination-port ==9100\"" >/dev/null && ! fab show leaf1 | grep "destination-port ==3260\"" >/dev/null &&
   fab show leaf2 | grep "destination-port ==3260\"" >/dev/null && ! fab show leaf2 | grep "destination-port ==9100\"" >/dev/null'
check "fabric: packets h1 -> h2: :8080 passes leaf1 and leaf2, :9100 dropped (rack A at leaf1), :3260 dropped (rack B at leaf2)" eval \
  'h1_tcp 8080 && ! h1_tcp 9100 0.5 && ! h1_tcp 3260 0.5'

# ------------------------------------------------------------------ all routes to all kernels
FROUTES2=$((FROUTES * 2))
fab write-routes $FROUTES2
t0=$(now); fab configure; t1=$(ctl_commit "$t0")
echo "time: fabric, the controller's birdc configure with $FROUTES2 routes took $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') s to its commit (BIRD parsing its configuration)"
fwait_specs
out=$(python3 "$D/fabric-wait.py" --t0 "$t1" --timeout $((60 + FROUTES2 / 500)) --installed $((FROUTES2 + 1)) "${SPECS[@]}")
rc=$?
echo "$out" | sed "s/^/time: fabric, $FROUTES more routes (to $FROUTES2), from the controller's commit to the leaf's commit: /; s/\$/ s/"
echo "time: fabric, $FROUTES2 routes, controller -> last leaf commit: $(echo "$out" | awk '{print $2}' | sort -n | tail -1) s"
for n in leaf1 leaf2 leaf3 leaf4 leaf5 leaf6 leaf7 leaf8; do echo "note: fabric RSS (KB) with $FROUTES2 routes, $n: $(fab rss "$n")"; done
check "fabric: $FROUTES more routes from the controller reach the kernels of all eight leaves" [ $rc -eq 0 ]
check "fabric: every leaf holds its rack's table after the load" rack_fps_ok $((FROUTES2 + 1))
t1=$(now)
if [ "${E2E_FABRIC_WAIT_GOBGP:-1}" = 1 ]; then
check "fabric: leaf8 (GoBGP + watch) caught up with gobgpd after the load (within 120 s)" wait_idle leaf8 120
echo "time: fabric, leaf8 idle again $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s after birdc configure (waited $(awk -v a="$t1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s)"
else echo "note: fabric, leaf8 runs gobgpd without its watch at this size (E2E_FABRIC_WAIT_GOBGP=0): gobgpd RSS $(fab rss leaf8)"; fi

# ------------------------------------------------------------------ one change, $FCHANGES times
change_once() { # PORT OLD: move the probe route to PORT; echo per-leaf times; packets checked
  local port=$1 old=$2 t0 out rc
  fab write-probe "$port"
  t0=$(now); fab configure; t0=$(ctl_commit "$t0")
  # One listing per check: at 50,000 routes a `show --json` is over a second of CPU.
  fwait_specs "t=\$(LAB_ID=$FID $LAB --fabric show %s); grep -q 'source 198.51.100.10/32 protocol ==6 destination-port ==$port\"' <<<\"\$t\" && ! grep -q 'source 198.51.100.10/32 protocol ==6 destination-port ==$old\"' <<<\"\$t\""
  out=$(python3 "$D/fabric-wait.py" --t0 "$t0" --timeout 20 "${SPECS[@]}")
  rc=$?
  echo "$out"
  [ $rc -eq 0 ] && ! h1_tcp "$port" 0.5 && { [ "$old" = none ] || h1_tcp "$old"; }
}
: > "$FRUN/changes.txt"; : > "$FRUN/ctl-parse.txt"
fails=0 old=none
for i in $(seq "$FCHANGES"); do
  port=$([ $((i % 2)) = 1 ] && echo 8443 || echo 8080)
  change_once $port $old >> "$FRUN/changes.txt" || { fails=$((fails + 1)); echo "note: change $i (to :$port) failed"; }
  old=$port
done
for n in "${FLEAVES[@]}"; do
  echo "time: fabric, one change ($FCHANGES changes) to $n's kernel: $(awk -v n=$n '$1 == n && $2 ~ /^[0-9.]+$/ {print $2}' "$FRUN/changes.txt" | stats) s"
done
echo "time: fabric, one change, all leaves but leaf7 (FRR polled 1 s): $(grep -v '^leaf7 ' "$FRUN/changes.txt" | awk '$2 ~ /^[0-9.]+$/ {print $2}' | stats) s"
echo "time: fabric, one change: the controller's birdc configure to its commit (not in the figures above): $(stats < "$FRUN/ctl-parse.txt") s"
check "fabric: $FCHANGES single changes each reached the kernels of all eight leaves, packets dropped/passed as changed" [ $fails -eq 0 ]
BASEFPS=$(all_fps)

# ------------------------------------------------------------------ a reflector killed
# (rr1 is FRR 8.4 unless E2E_FABRIC_RR1=bird: the scale run's, docs/e2e.md)
fab kill rr1
sleep 3
check "fabric: rr1 (${E2E_FABRIC_RR1:-frr}) killed: every leaf keeps its table (fail-static)" eval '[ "$(all_fps)" = "$BASEFPS" ]'
check "fabric: rr1 killed: packets as before (h1 -> h2 :22 passes, :9100 dropped)" eval 'h1_tcp 22 && ! h1_tcp 9100 0.5'
port=$([ "$old" = 8080 ] && echo 8443 || echo 8080)
out=$(change_once $port $old); rc=$?
echo "$out" | sed 's/^/time: fabric, a change with rr1 down, via rr2: /; s/$/ s/'
check "fabric: rr1 killed: a change still reaches the kernels of all eight leaves through rr2" [ $rc -eq 0 ]
old=$port
sleep 1
BASEFPS=$(all_fps)
start_monitors rr1back
t0=$(now)
fab start rr1
# rr1 is back when it holds the controller's routes again and every leaf has its End-of-RIB
end=$((SECONDS + 60))
until [ "$(fab established rr1)" = 9 ] || [ $SECONDS -ge $end ]; do sleep 0.5; done
echo "time: fabric, rr1 restarted: all 9 sessions Established after $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s"
sleep 5   # let the reflector send its table and every leaf settle
stop_monitors
check "fabric: rr1 back: all 9 of its sessions Established" eval '[ $SECONDS -lt $end ]'
check "fabric: rr1 back: every leaf's table unchanged" eval '[ "$(all_fps)" = "$BASEFPS" ]'
check "fabric: rr1 back: no flap: nft monitor saw no rule, set element or table change in any leaf's kernel" monitor_quiet rr1back
grep -hE '^(add|delete|flush|replace|destroy) ' "$FRUN"/leaf*/monitor-rr1back.txt | head -5 | sed 's/^/note: kernel change while rr1 came back: /'

# ------------------------------------------------------------------ a leaf's listener restarted
# leaf1 (hosts behind it): SIGTERM leaves the table in the kernel; the new listener replaces it
# only once both reflectors' End-of-RIB are in. Its table is sampled every 50 ms meanwhile.
BASE1=$(fab fp leaf1)
# The sampler stops at restart-stop and is waited for: a sample still being taken when it was
# killed (a digest takes seconds on a loaded machine at 50,000 routes) landed in the next step.
( end=$((SECONDS + 40)); while [ $SECONDS -lt $end ] && [ ! -e "$FRUN/leaf1/restart-stop" ]; do fab fp leaf1; sleep 0.05; done ) > "$FRUN/leaf1/restart-fps.txt" &
mon=$!
sleep 0.3
fab stop leaf1
sleep 1
check "fabric: leaf1's listener stopped: its table stays in the kernel, packets as before" eval '[ "$(fab fp leaf1)" = "$BASE1" ] && h1_tcp 22 && ! h1_tcp 9100 0.5'
t0=$(now)
fab start leaf1
out=$(python3 "$D/fabric-wait.py" --t0 "$t0" --timeout 40 --installed $((FROUTES2 + 2)) "leaf1=$FRUN/leaf1/daemon.log")
rc=$?
echo "time: fabric, leaf1's listener restarted: resynced (installed) after $(echo "$out" | awk '{print $2}') s"
sleep 1; touch "$FRUN/leaf1/restart-stop"; wait $mon 2>/dev/null
check "fabric: leaf1's listener restarted: resynced from both reflectors" eval '[ $rc -eq 0 ] && [ "$(fab fp leaf1)" = "$BASE1" ]'
check "fabric: leaf1's listener restarted: its table was never empty or different in between ($(wc -l < "$FRUN/leaf1/restart-fps.txt") samples)" \
  eval '[ -s "$FRUN/leaf1/restart-fps.txt" ] && ! grep -qv "^$BASE1\$" "$FRUN/leaf1/restart-fps.txt"'
grep -v "^$BASE1\$" "$FRUN/leaf1/restart-fps.txt" | sort | uniq -c | sed 's/^/note: leaf1 table during its restart (samples): /'

# ------------------------------------------------------------------ controller dies
BASEFPS=$(all_fps)
fab kill ctl
sleep 5
check "fabric: controller killed: every leaf keeps its table (fail-static; the reflectors hold its routes as graceful-restart stale)" \
  eval '[ "$(all_fps)" = "$BASEFPS" ]'
check "fabric: controller killed: packets as before" eval 'h1_tcp 22 && ! h1_tcp 9100 0.5'
check "fabric: controller killed: leaf1's listener still has both reflectors Established" eval '[ "$(leaf_established leaf1)" = 2 ]'
echo "note: rr2 (BIRD) with the controller dead: $(birdc -s "$FRUN/rr2/bird.ctl" show protocols ctl 2>/dev/null | awk '$1 == "ctl" {print $4, $5, $6, $7}')"
start_monitors ctlback
fab start ctl
end=$((SECONDS + 60))
until [ "$(birdc -s "$FRUN/ctl/bird.ctl" show protocols 2>/dev/null | awk '$2 == "BGP" && $6 == "Established"' | wc -l)" = 2 ] || [ $SECONDS -ge $end ]; do sleep 0.5; done
sleep 5
stop_monitors
check "fabric: controller back: every leaf's table as before" eval '[ "$(all_fps)" = "$BASEFPS" ]'
echo "note: kernel changes while the controller came back (flaps are not required to be absent here): $(cat "$FRUN"/leaf*/monitor-ctlback.txt | grep -cE '^(add|delete) ') lines"

# ------------------------------------------------------------------ controller withdraws everything
fab write-routes 0; fab write-probe none
t0=$(now); fab configure; t0=$(ctl_commit "$t0")
fwait_specs
out=$(python3 "$D/fabric-wait.py" --t0 "$t0" --timeout 60 --installed 0 "${SPECS[@]}")
rc=$?
echo "$out" | sed "s/^/time: fabric, everything withdrawn, from the controller's commit to the leaf's commit: /; s/\$/ s/"
echo "time: fabric, everything withdrawn, controller -> last leaf commit: $(echo "$out" | awk '{print $2}' | sort -n | tail -1) s"
check "fabric: controller withdraws everything: the tables of all eight leaves empty as asked" eval '[ $rc -eq 0 ] && [ "$(all_fps | awk "{print \$2}" | sort -u)" = "routes=0" ]'
check "fabric: withdraw-all, unlike controller death: leaf1 logged the withdrawal (+0 -N, installed 0) with both reflectors Established" eval \
  'grep -Eq "\+0 -[0-9]+ ~0 routes.*installed 0[,;]" "$FRUN/leaf1/daemon.log" && [ "$(leaf_established leaf1)" = 2 ]'

# ------------------------------------------------------------------ teardown
if [ "${E2E_KEEP:-0}" = 1 ]; then echo "fabric lab $FID kept (LAB_ID=$FID scripts/lab --fabric down)"; else
fab down >/dev/null 2>&1
check "fabric: lab down removes every namespace, process and file of the fabric" \
  eval '! ip netns list | grep -q "^$FID-" && [ ! -e "$FRUN" ] && ! pgrep -f "$FRUN" >/dev/null'
fi
trap cleanup EXIT
