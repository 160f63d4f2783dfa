#!/usr/bin/env bash
# watch-lab.sh KIND BIN ID: BIRD -> KIND (frr|gobgp|gobgp-bmp|exabgp) in two namespaces, `flowspec-nft
# watch --source KIND` next to the speaker; checks that the kernel table follows BIRD's routes
# (add, withdraw, changed action) and stays when the speaker is killed. Cleans up on any exit.
set -euo pipefail
KIND=$1 BIN=$2 ID=$3
C=fswc$ID R=fswr$ID
D=$(mktemp -d /tmp/fswatch.XXXXXX)
chmod 755 "$D"
cleanup() {
  for ns in $C $R; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  [ -n "${KEEP_LOG:-}" ] && cp "$D/watch.log" "$KEEP_LOG"; rm -rf "$D"
}
fail() { echo "FAIL: $*"; echo "--- watch log"; cat "$D/watch.log" 2>/dev/null | tail -40; echo "--- table"; ip netns exec $R "$BIN" show 2>&1 | head -20; exit 1; }
trap cleanup EXIT
ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
t0=$(ms)

ip netns add $C; ip netns add $R
ip netns exec $C ip link set lo up; ip netns exec $R ip link set lo up
ip link add c$ID netns $C type veth peer name r$ID netns $R
ip netns exec $C ip addr add 192.0.2.1/30 dev c$ID; ip netns exec $R ip addr add 192.0.2.2/30 dev r$ID
ip netns exec $C ip link set c$ID up; ip netns exec $R ip link set r$ID up

DROP='{ bgp_ext_community.add((generic, 0x80060000, 0)); }'
SLOW='{ bgp_ext_community.add((generic, 0x80060000, 0x46435000)); }'
routes() { # 1: A B C6 ; 2: B (slow) C6 D
  if [ "$1" = 1 ]; then
    R4="route flow4 { dst 203.0.113.10/32; proto 6; dport 80; } $DROP;
        route flow4 { dst 203.0.113.11/32; proto 17; } $DROP;"
  else
    R4="route flow4 { dst 203.0.113.11/32; proto 17; } $SLOW;
        route flow4 { dst 203.0.113.12/32; proto 1; } $DROP;"
  fi
  R6="route flow6 { dst 2001:db8:113::10/128; next header 6; } $DROP;"
  PASSIVE=""; [ "$KIND" = exabgp ] && PASSIVE="passive on;"
  cat > "$D/bird.conf" <<BIRD
log "$D/bird.log" all;
router id 192.0.2.1;
flow4 table flowtab4;
flow6 table flowtab6;
protocol device { }
protocol bgp peer {
  local 192.0.2.1 as 65309; neighbor 192.0.2.2 as 65105; $PASSIVE
  hold time 90; connect retry time 1; error wait time 1, 5;
  flow4 { table flowtab4; import none; export all; };
  flow6 { table flowtab6; import none; export all; };
}
protocol static s4 { flow4 { table flowtab4; }; $R4 }
protocol static s6 { flow6 { table flowtab6; }; $R6 }
BIRD
}

# table_is N [match...] [!match...]: the installed table has N routes, these and not those.
table_is() {
  local json n want=$1; shift
  json=$(ip netns exec $R "$BIN" show --json 2>/dev/null) || return 1
  n=$(grep -c '"identity"' <<<"$json" || true)
  [ "$n" = "$want" ] || return 1
  for m in "$@"; do
    if [ "${m:0:1}" = "!" ]; then grep -q -- "${m:1}" <<<"$json" && return 1
    else grep -q -- "$m" <<<"$json" || return 1; fi
  done
  return 0
}
wait_table() { # seconds args...
  local end=$(( $(ms) + $1 * 1000 )); shift
  until table_is "$@"; do
    [ "$(ms)" -gt "$end" ] && return 1
    sleep 0.1
  done
}

routes 1
case $KIND in
frr)
  mkdir -p "$D/frr"
  cat > "$D/frr/bgpd.conf" <<FRR
frr defaults traditional
router bgp 65105
 bgp router-id 192.0.2.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 192.0.2.1 remote-as 65309
 neighbor 192.0.2.1 timers connect 1
 address-family ipv4 flowspec
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.1 route-map NOOUT out
 exit-address-family
 address-family ipv6 flowspec
  neighbor 192.0.2.1 activate
  neighbor 192.0.2.1 route-map NOOUT out
 exit-address-family
exit
route-map NOOUT deny 10
exit
FRR
  chown -R frr:frr "$D/frr"
  ip netns exec $R /usr/lib/frr/bgpd -d -u frr -g frr -P 0 --vty_socket "$D/frr" -z "$D/frr/zserv.api" \
    -i "$D/frr/bgpd.pid" -f "$D/frr/bgpd.conf" >/dev/null 2>&1
  ip netns exec $R "$BIN" watch --source frr --interval 0.5 --vtysh "vtysh --vty_socket $D/frr" 2>"$D/watch.log" &
  kill_speaker() { kill -9 "$(cat "$D/frr/bgpd.pid")"; }
  ;;
gobgp|gobgp-bmp)
  cat > "$D/gobgpd.toml" <<GO
[global.config]
  as = 65105
  router-id = "192.0.2.2"
  local-address-list = ["192.0.2.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.1"
    peer-as = 65309
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-flowspec"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-flowspec"
GO
  ip netns exec $R gobgpd -f "$D/gobgpd.toml" -t toml --api-hosts 127.0.0.1:50051 --pprof-disable >"$D/gobgpd.log" 2>&1 &
  GOPID=$!
  BMP=""; [ "$KIND" = gobgp-bmp ] && BMP="--bmp 127.0.0.1:11019"
  ip netns exec $R "$BIN" watch --source gobgp $BMP --interval 0.5 --gobgp "gobgp -u 127.0.0.1 -p 50051" 2>"$D/watch.log" &
  WPID=$!
  kill_speaker() { kill -9 $GOPID; }
  ;;
exabgp)
  cat > "$D/watch.sh" <<W
#!/bin/sh
exec "$BIN" watch --source exabgp --debounce 0.1 2>>"$D/watch.log"
W
  chmod +x "$D/watch.sh"
  cat > "$D/exabgp.conf" <<EXA
process flowspec-nft {
    run $D/watch.sh;
    encoder json;
}
neighbor 192.0.2.1 {
    router-id 192.0.2.2;
    local-address 192.0.2.2;
    local-as 65105;
    peer-as 65309;
    family { ipv4 flow; ipv6 flow; }
    api { processes [ flowspec-nft ]; receive { parsed; update; } neighbor-changes; }
}
EXA
  ip netns exec $R env exabgp.daemon.user=root exabgp.daemon.daemonize=false exabgp.api.cli=false \
    exabgp.log.destination="$D/exabgp.log" exabgp "$D/exabgp.conf" >"$D/exabgp.out" 2>&1 &
  EXAPID=$!
  kill_speaker() { kill -9 $EXAPID; }
  ;;
esac
ip netns exec $C bird -c "$D/bird.conf" -s "$D/bird.ctl" -P "$D/bird.pid"

wait_table 30 3 203.0.113.10/32 203.0.113.11/32 2001:db8:113::10/128 || fail "initial routes not installed"
echo "initial table after $(( $(ms) - t0 )) ms"
[ "$(grep -c 'table inet flowspec: +' "$D/watch.log")" -ge 1 ] || fail "no change logged"

routes 2
ip netns exec $C birdc -s "$D/bird.ctl" configure >/dev/null
t1=$(ms)
wait_table 5 3 '!203.0.113.10/32' 203.0.113.12/32 '"police' 2001:db8:113::10/128 || fail "changes not followed"
echo "change followed in $(( $(ms) - t1 )) ms"

applies=$(grep -c 'table inet flowspec: +' "$D/watch.log")
sleep 1.2
[ "$(grep -c 'table inet flowspec: +' "$D/watch.log")" = "$applies" ] || fail "table re-applied without a change"

kill_speaker
sleep 1.5
table_is 3 203.0.113.12/32 '"police' || fail "table not kept after the speaker died"
grep -qiE 'unreadable|ended|lost' "$D/watch.log" || fail "speaker loss not logged"
if [ "$KIND" = gobgp-bmp ]; then
  # gobgpd back: watch registers its station again (a restarted gobgpd forgot it), takes the
  # dump and follows BIRD's routes as before.
  ip netns exec $R gobgpd -f "$D/gobgpd.toml" -t toml --api-hosts 127.0.0.1:50051 --pprof-disable >>"$D/gobgpd.log" 2>&1 &
  wait_table 30 3 203.0.113.12/32 '"police' 2001:db8:113::10/128 || fail "table not kept while gobgpd came back"
  routes 1
  ip netns exec $C birdc -s "$D/bird.ctl" configure >/dev/null
  wait_table 30 3 203.0.113.10/32 '!203.0.113.12/32' '!"police' || fail "changes not followed after gobgpd came back"
  grep -q 'BMP session with gobgpd ended' "$D/watch.log" || fail "BMP loss not logged"
  # Exit takes the station out of gobgpd.
  kill -TERM $WPID
  for _ in $(seq 50); do kill -0 $WPID 2>/dev/null || break; sleep 0.1; done
  left=$(ip netns exec $R gobgp -u 127.0.0.1 -p 50051 bmp del 127.0.0.1:11019 2>&1 || true)
  grep -q "isn't found" <<<"$left" || fail "the station still registered in gobgpd after exit: $left"
fi
echo "OK $KIND"
