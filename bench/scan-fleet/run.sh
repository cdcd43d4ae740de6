#!/usr/bin/env bash
# bench/scan-fleet/run.sh N — Warden's SSH fleet scan of N simulated hosts against plain OpenSSH
# (xargs -P) and Ansible -m raw, in one session, tools alternating, medians of ROUNDS rounds.
#
# The fleet is ../shared/bench/ssh-scan's: host001..hostN, all the private sshd on 127.0.0.1:2222
# (run its setup.sh first, as root). Every tool makes one fresh TCP connection and login per
# simulated host, with host-key checking on and curve25519-sha256, F concurrent connections, and
# runs the same remote command (fake-apt-scan: os-release + 40 `apt list --upgradable` lines).
# Warden's side is scan.ts: the ssh target with its connection pool and the ScanLimiter, the
# output parsed with integrations/os parseOsReleaseAndAptList; a host counts as ok when the
# command exited 0 and all 40 packages were parsed.
#
# Prints a table, the ratios, and LAST one line in the baseline's form:
#   warden N=… wall_s=… ok=…/N rss_mb=…
#
# Knobs: F=50  ROUNDS=3  ANSIBLE_ROUNDS=$ROUNDS (0 skips Ansible)  COOLDOWN=2
#        BASELINE=/work/shared/bench/ssh-scan  STORE=0 (1: also time writing the findings, store.ts)
set -euo pipefail

N=${1:?usage: bench/scan-fleet/run.sh N}
F=${F:-50}
ROUNDS=${ROUNDS:-3}
ANSIBLE_ROUNDS=${ANSIBLE_ROUNDS:-$ROUNDS}
COOLDOWN=${COOLDOWN:-2}
BASELINE=${BASELINE:-/work/shared/bench/ssh-scan}
KEX=curve25519-sha256
D=/tmp/perf-ssh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT/node_modules/.cache/warden-bench
TIME_BIN=$(type -P time) || { echo "scan-fleet: GNU time missing; run $BASELINE/setup.sh" >&2; exit 1; }

[ -f "$D/sshd.pid" ] && kill -0 "$(cat "$D/sshd.pid")" 2>/dev/null \
  || { echo "scan-fleet: the benchmark sshd is not running; run $BASELINE/setup.sh as root" >&2; exit 1; }

# ---- build once, untimed (production runs compiled JavaScript too: see the Dockerfile) ----------
mkdir -p "$OUT"
"$ROOT/node_modules/.bin/esbuild" "$HERE/scan.ts" --bundle --platform=node --format=esm --target=node20 \
  --packages=external --log-level=warning --outfile="$OUT/scan.mjs"

log_count() { local c; c=$(grep -c "$1" "$D/sshd.log" 2>/dev/null); echo "${c:-0}"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
field() { sed -n "s/.*[ {\"]$1[\"]*[=:]\([0-9.]*\).*/\1/p" <<<"$2" | head -1; }

w_walls=(); w_oks=(); w_rss=(); w_cpu=(); w_conns=()
s_walls=(); s_oks=(); s_cpu=()
a_walls=(); a_oks=(); a_cpu=()

run_warden() {
  sleep "$COOLDOWN"
  local a0 t0 t1 json u s m
  a0=$(log_count 'Accepted publickey')
  t0=$(date +%s%N)
  json=$("$TIME_BIN" -f '%U %S %M' -o "$OUT/time.warden" node "$OUT/scan.mjs" --n "$N" --f "$F")
  t1=$(date +%s%N)
  read -r u s m < "$OUT/time.warden"
  w_walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')")
  w_oks+=("$(field ok "$json")")
  w_rss+=("$m")
  w_cpu+=("$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')")
  w_conns+=("$(( $(log_count 'Accepted publickey') - a0 ))")
  echo "  warden  wall_s=${w_walls[-1]} ok=${w_oks[-1]}/$N rss_kb=$m cpu_s=${w_cpu[-1]} logins=${w_conns[-1]} $json"
}

run_ssh() {
  local line
  line=$(TOOL=ssh KEX=$KEX RUNS=1 MEM=0 COOLDOWN="$COOLDOWN" "$BASELINE/bench-ansible.sh" "$N" "$F")
  s_walls+=("$(field wall_s "$line")"); s_oks+=("$(field ok "$line")"); s_cpu+=("$(field cpu_s "$line")")
  echo "  $line"
}

run_ansible() {
  local line
  line=$(MODULE=raw KEX=$KEX RUNS=1 MEM=0 COOLDOWN="$COOLDOWN" "$BASELINE/bench-ansible.sh" "$N" "$F")
  a_walls+=("$(field wall_s "$line")"); a_oks+=("$(field ok "$line")"); a_cpu+=("$(field cpu_s "$line")")
  echo "  $line"
}

echo "scan-fleet N=$N F=$F rounds=$ROUNDS ansible_rounds=$ANSIBLE_ROUNDS kex=$KEX  $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  # Rotate the order each round so that no tool always runs first (or right after Ansible).
  tools=(warden ssh ansible)
  for k in 0 1 2; do
    tool=${tools[$(( (k + r - 1) % 3 ))]}
    case $tool in
      warden) run_warden ;;
      ssh) run_ssh ;;
      ansible) [ "$r" -le "$ANSIBLE_ROUNDS" ] && run_ansible ;;
    esac
  done
done

W=$(median "${w_walls[@]}"); S=$(median "${s_walls[@]}")
W_OK=$(printf '%s\n' "${w_oks[@]}" | sort -n | head -1)
W_RSS_MB=$(awk -v k="$(median "${w_rss[@]}")" 'BEGIN{printf "%.0f", k/1024}')
W_RSS_MAX_MB=$(printf '%s\n' "${w_rss[@]}" | sort -n | tail -1 | awk '{printf "%.0f", $1/1024}')
echo
echo "medians over the rounds (wall includes process start; load now $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-28s %8s %10s %8s %8s\n' tool wall_s ms/host ok cpu_s
printf '%-28s %8s %10s %8s %8s\n' "warden (ssh2, pool+limiter)" "$W" "$(awk -v w="$W" -v n="$N" 'BEGIN{printf "%.1f", w/n*1000}')" "$W_OK/$N" "$(median "${w_cpu[@]}")"
printf '%-28s %8s %10s %8s %8s\n' "ssh via xargs -P $F" "$S" "$(awk -v w="$S" -v n="$N" 'BEGIN{printf "%.1f", w/n*1000}')" "$(printf '%s\n' "${s_oks[@]}" | sort -n | head -1)/$N" "$(median "${s_cpu[@]}")"
if [ "${#a_walls[@]}" -gt 0 ]; then
  A=$(median "${a_walls[@]}")
  printf '%-28s %8s %10s %8s %8s\n' "ansible -m raw" "$A" "$(awk -v w="$A" -v n="$N" 'BEGIN{printf "%.1f", w/n*1000}')" "$(printf '%s\n' "${a_oks[@]}" | sort -n | head -1)/$N" "$(median "${a_cpu[@]}")"
fi
echo "warden runs: ${w_walls[*]}   ssh runs: ${s_walls[*]}   ansible runs: ${a_walls[*]:-none}"
echo "warden logins per run (sshd 'Accepted publickey'): ${w_conns[*]}   peak RSS per run (KB): ${w_rss[*]}"
echo "ratio warden/ssh = $(awk -v w="$W" -v s="$S" 'BEGIN{printf "%.2f", w/s}') (target <= 1.30)"
[ "${#a_walls[@]}" -gt 0 ] && echo "ratio ansible/warden = $(awk -v w="$W" -v a="$A" 'BEGIN{printf "%.2f", a/w}') (target >= 2.50)"
echo "warden peak RSS: median ${W_RSS_MB} MB, largest ${W_RSS_MAX_MB} MB"

if [ "${STORE:-0}" = 1 ]; then
  echo
  node --import tsx "$HERE/store.ts" --n "$N" --f "$F"
fi

echo "warden N=$N wall_s=$W ok=$W_OK/$N rss_mb=$W_RSS_MB"
