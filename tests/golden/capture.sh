#!/usr/bin/env bash
# Reproduce the golden JSON fixtures in this directory from a REAL Docker
# swarm (single node, private dockerd, no registry needed).
#
#   sudo bash tests/golden/capture.sh
#
# What it does (bounded; typically ~2-3 minutes):
#   1. installs docker.io + busybox-static (+ curl) with apt-get if missing;
#   2. starts a private dockerd in a temp dir (own socket, data-root,
#      exec-root; --iptables=false --bridge=none so the host is not touched);
#   3. builds local/busybox:1 and local/busybox:2 with `docker import`
#      from a rootfs made of /bin/busybox + applet symlinks;
#   4. inits a swarm, creates nodes labels / secrets / configs / networks /
#      services, waits (bounded polling) and captures `... inspect` output;
#   5. removes everything, re-inits the swarm with non-default `init` flags
#      for one more capture, leaves, stops dockerd and deletes the temp dir.
# Fixtures are written to a staging dir and only copied into this directory
# (replacing the old *.json and commands.md) when every step succeeded.
# The JSON is stored exactly as the docker CLI printed it; the only file not
# produced by the CLI (the cluster object, GET /swarm, and GET /services with
# status=true) is fetched with curl and indented with `python3 -m json.tool`
# (key order and values untouched).
set -euo pipefail

GOLDEN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
POLL=60            # max seconds for each ordinary wait
UPDATE_POLL=150    # max seconds for the rolling update of `web`

log() { printf '[capture %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (starts dockerd)"

# ---------------------------------------------------------------- packages
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v docker >/dev/null 2>&1 || die "no docker CLI"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || BUSYBOX=/usr/bin/busybox
[ -x "$BUSYBOX" ] || die "no busybox binary"

# ------------------------------------------------- remember host state
pgrep -x dockerd >/dev/null && log "note: another dockerd is running; ours is private and independent"
had_key=0;      [ -e /etc/docker/key.json ] && had_key=1
had_gwbridge=0; ip link show docker_gwbridge >/dev/null 2>&1 && had_gwbridge=1
had_run_docker=0;     [ -e /run/docker ] && had_run_docker=1
had_run_containerd=0; [ -e /run/containerd ] && had_run_containerd=1

D="$(mktemp -d /tmp/shoal-golden.XXXXXX)"
OUT="$D/out"
CMDLOG="$D/commands.log"
mkdir -p "$OUT"
export DOCKER_HOST="unix://$D/docker.sock"
unset DOCKER_API_VERSION DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH || true
DPID=""

# ---------------------------------------------------------------- teardown
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
        log "teardown: removing services, leaving swarm, stopping dockerd"
        local ids
        ids="$(timeout 20 docker service ls -q 2>/dev/null)"
        [ -n "$ids" ] && timeout 30 docker service rm $ids >/dev/null 2>&1
        for _ in $(seq 40); do
            [ -z "$(timeout 10 docker ps -q 2>/dev/null)" ] && break
            sleep 1
        done
        timeout 30 docker swarm leave --force >/dev/null 2>&1
        kill -TERM "$DPID" 2>/dev/null
        for _ in $(seq 40); do kill -0 "$DPID" 2>/dev/null || break; sleep 1; done
        if kill -0 "$DPID" 2>/dev/null; then
            log "teardown: dockerd did not exit, SIGKILL"
            kill -KILL "$DPID" 2>/dev/null
            sleep 1
        fi
    fi
    # leftovers of *our* daemon only: processes whose command line names our
    # temp dir (containerd, containerd-shim), killed one by one by PID
    local p
    for p in $(pgrep -f -- "$D" 2>/dev/null); do
        [ "$p" = "$$" ] && continue
        log "teardown: killing leftover pid $p: $(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | cut -c1-120)"
        kill -KILL "$p" 2>/dev/null
    done
    # mounts under the temp dir (netns bind mounts, overlay, shm), deepest first
    local m
    for m in $(awk -v d="$D" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null
    done
    rm -rf "$D"
    # host-side state the daemon creates outside its data/exec roots
    [ "$had_gwbridge" = 0 ] && ip link show docker_gwbridge >/dev/null 2>&1 && ip link del docker_gwbridge
    [ "$had_key" = 0 ] && rm -f /etc/docker/key.json
    if [ "$had_run_docker" = 0 ]; then rm -rf /run/docker 2>/dev/null; fi
    if [ "$had_run_containerd" = 0 ]; then rmdir /run/containerd/s /run/containerd 2>/dev/null; fi
    if [ "$rc" = 0 ]; then log "done"; else log "FAILED (rc=$rc)"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
# dk ARGS...: run docker, record the exact command line
# shell-quote one word only if needed (for a readable, copy-pasteable log)
q() {
    if [[ $1 =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then printf '%s' "$1"
    else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}
dk() {
    local line="" a rep='$D'
    for a in "$@"; do line+=" $(q "$a")"; done
    printf '$ docker%s\n' "${line//"$D"/$rep}" >>"$CMDLOG"
    docker "$@"
}
# note TEXT: record a command that is not run through dk (pipes, curl, ...)
note() { printf '$ %s\n' "$*" >>"$CMDLOG"; }
# cap FILE ARGS...: capture `docker ARGS` stdout into FILE
cap() {
    local f=$1; shift
    printf '\n### %s\n' "$f" >>"$CMDLOG"
    dk "$@" >"$OUT/$f"
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUT/$f" || die "$f is not valid JSON"
    log "captured $f"
}
# capapi FILE PATH: GET PATH from the engine API (unversioned path = the
# daemon's own API version, nothing pinned), indent with python3 -m json.tool
capapi() {
    local f=$1 path=$2
    printf '\n### %s\n' "$f" >>"$CMDLOG"
    note "curl -sf --unix-socket \$D/docker.sock 'http://localhost$path' | python3 -m json.tool"
    curl -sf --unix-socket "$D/docker.sock" "http://localhost$path" | python3 -m json.tool >"$OUT/$f"
    log "captured $f"
}
# wait_until SECONDS DESCRIPTION CMD...: bounded polling
wait_until() {
    local t=$1 desc=$2; shift 2
    local i
    for ((i = 0; i < t; i++)); do
        if "$@"; then return 0; fi
        sleep 1
    done
    die "timeout after ${t}s waiting for: $desc"
}
task_state() { docker inspect --type task -f '{{.Status.State}}' "$1"; }
task_desired() { docker inspect --type task -f '{{.DesiredState}}' "$1"; }
# tasks SERVICE STATE [DESIRED]: task ids (all history) in a given state
tasks() {
    local svc=$1 st=$2 want=${3:-} id
    for id in $(docker service ps -q --no-trunc "$svc" 2>/dev/null); do
        [ "$(task_state "$id")" = "$st" ] || continue
        [ -z "$want" ] || [ "$(task_desired "$id")" = "$want" ] || continue
        echo "$id"
    done
}
count_tasks() { tasks "$@" | wc -l; }
has_n_tasks() { [ "$(count_tasks "$2" "$3" "${4:-}")" -ge "$1" ]; }
update_done() {
    case "$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$1")" in
        completed | paused | rollback_completed | rollback_paused) return 0 ;;
    esac
    return 1
}

# ---------------------------------------------------------------- dockerd
log "starting private dockerd in $D"
note "dockerd --data-root \$D/data --exec-root \$D/exec --pidfile \$D/pid -H unix://\$D/docker.sock --iptables=false --ip-forward=false --ip-masq=false --bridge=none &"
dockerd --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/pid" \
    -H "unix://$D/docker.sock" \
    --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    >"$D/dockerd.log" 2>&1 &
DPID=$!
note "export DOCKER_HOST=unix://\$D/docker.sock"
daemon_up() { kill -0 "$DPID" 2>/dev/null || die "dockerd exited: $(tail -5 "$D/dockerd.log")"; docker info >/dev/null 2>&1; }
wait_until "$POLL" "dockerd to answer" daemon_up

CLI_VERSION="$(docker version -f '{{.Client.Version}} (API {{.Client.APIVersion}})' 2>/dev/null || true)"
SRV_VERSION="$(docker version -f '{{.Server.Version}} (API {{.Server.APIVersion}}, min {{.Server.MinAPIVersion}})')"
CTRD_VERSION="$(containerd --version 2>/dev/null || echo '?')"
log "CLI $CLI_VERSION / dockerd $SRV_VERSION"

# ---------------------------------------------------------------- image
log "building local/busybox:{1,2}"
mkdir -p "$D/rootfs/bin" "$D/rootfs/tmp" "$D/rootfs/etc" "$D/rootfs/data"
cp "$BUSYBOX" "$D/rootfs/bin/busybox"
for a in $("$D/rootfs/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$D/rootfs/bin/$a"
done
chmod 1777 "$D/rootfs/tmp"
tar -C "$D/rootfs" -cf "$D/rootfs.tar" .
note "tar -C rootfs -cf rootfs.tar .   # rootfs = /bin/busybox (busybox-static) + a symlink per applet in /bin"
dk import --change 'CMD ["sleep","100000"]' --change 'ENV PATH=/bin' "$D/rootfs.tar" local/busybox:1 >/dev/null
dk import --change 'CMD ["sleep","100000"]' --change 'ENV PATH=/bin' --change 'LABEL version=2' "$D/rootfs.tar" local/busybox:2 >/dev/null

# ---------------------------------------------------------------- swarm
log "swarm init"
dk swarm init --advertise-addr 127.0.0.1 >/dev/null
NODE="$(docker info -f '{{.Swarm.NodeID}}')"
capapi swarm.json /swarm
cap info-swarm.json info --format '{{json .Swarm}}'
python3 -m json.tool "$OUT/info-swarm.json" >"$D/tmp.json" && mv "$D/tmp.json" "$OUT/info-swarm.json"
note "(info-swarm.json indented with python3 -m json.tool)"
dk swarm update --task-history-limit 7 --dispatcher-heartbeat 6s --cert-expiry 720h \
    --snapshot-interval 5000 --max-snapshots 2 >/dev/null
capapi swarm-updated.json /swarm

# ---------------------------------------------------------------- node
# (`docker node update self` is refused: "node self not found"; use the ID)
dk node update --label-add rack=r1 --label-add ssd --availability active "$NODE" >/dev/null
cap node-manager.json node inspect self
dk node update --availability pause "$NODE" >/dev/null
cap node-paused.json node inspect self
dk node update --availability active "$NODE" >/dev/null

# ---------------------------------------------------------------- secrets, configs, networks
note "printf 'hunter2' | docker secret create --label app=api --label kind=password s1 -"
printf 'hunter2' | docker secret create --label app=api --label kind=password s1 - >/dev/null
note "printf 'listen=80\\n' | docker config create --label app=api c1 -"
printf 'listen=80\n' | docker config create --label app=api c1 - >/dev/null
dk network create -d overlay --attachable --label x=y --subnet 10.20.0.0/24 appnet >/dev/null
cap secret.json secret inspect s1
cap config.json config inspect c1

# ---------------------------------------------------------------- services
log "creating services"
dk service create --detach --name web --replicas 3 \
    --label com.example.app=web --label tier=front --container-label com.example.c=1 \
    --env A=1 --env B=two --workdir /tmp --user 0:0 --hostname web-host \
    --constraint 'node.role==manager' --constraint 'node.labels.rack!=r9' \
    --placement-pref 'spread=node.labels.rack' --replicas-max-per-node 6 \
    --reserve-cpu 0.1 --reserve-memory 8M --limit-cpu 0.5 --limit-memory 64M \
    --restart-condition on-failure --restart-delay 3s --restart-max-attempts 4 --restart-window 1m \
    --update-parallelism 2 --update-delay 10s --update-failure-action rollback \
    --update-monitor 7s --update-max-failure-ratio 0.25 --update-order start-first \
    --rollback-parallelism 1 --rollback-delay 2s --rollback-failure-action continue \
    --rollback-monitor 4s --rollback-max-failure-ratio 0.5 --rollback-order stop-first \
    --stop-grace-period 20s --stop-signal SIGINT \
    --health-cmd 'true' --health-interval 5s --health-retries 3 --health-timeout 2s --health-start-period 1s \
    --init --publish published=8080,target=80 \
    --mount type=tmpfs,target=/tmp/x --mount type=volume,source=vol1,target=/data \
    --log-driver json-file --log-opt max-size=1m \
    --dns 1.1.1.1 --dns-search example.org --dns-option ndots:2 --host myhost:10.1.2.3 \
    --read-only --tty --cap-add NET_ADMIN --sysctl net.core.somaxconn=1024 --ulimit nofile=1024:2048 \
    local/busybox:1 sleep 100000 >/dev/null
dk service create --detach --name glob --mode global \
    --publish mode=host,target=81,published=8081 --endpoint-mode dnsrr \
    local/busybox:1 sleep 100000 >/dev/null
dk service create --detach --name rjob --mode replicated-job --replicas 2 --max-concurrent 1 \
    local/busybox:1 true >/dev/null
dk service create --detach --name gjob --mode global-job local/busybox:1 true >/dev/null
MINIMAL="$(dk service create --detach local/busybox:1 sleep 1000)"
dk service create --detach --name api \
    --secret source=s1,target=app_pw,mode=0400 --config source=c1,target=/etc/app.conf \
    --network name=appnet,alias=api \
    local/busybox:1 sleep 100000 >/dev/null
dk service create --detach --name noimage local/nope:1 >/dev/null
dk service create --detach --name failing --restart-condition none local/busybox:1 sh -c 'exit 1' >/dev/null
dk service create --detach --name unschedulable --constraint 'node.labels.rack==nowhere' \
    local/busybox:1 sleep 100000 >/dev/null

log "waiting for tasks"
wait_until "$POLL" "web: 3 running tasks" has_n_tasks 3 web running
cap svc-replicated.json service inspect web
cap task-running.json inspect --type task "$(tasks web running | head -n1)"

wait_until "$POLL" "glob: 1 running task" has_n_tasks 1 glob running
cap svc-global.json service inspect glob

wait_until "$POLL" "rjob: 2 complete tasks" has_n_tasks 2 rjob complete
cap svc-replicated-job.json service inspect rjob
cap task-job-complete.json inspect --type task "$(tasks rjob complete | head -n1)"

wait_until "$POLL" "gjob: 1 complete task" has_n_tasks 1 gjob complete
cap svc-global-job.json service inspect gjob

wait_until "$POLL" "minimal service: 1 running task" has_n_tasks 1 "$MINIMAL" running
cap svc-minimal.json service inspect "$MINIMAL"

wait_until "$POLL" "api: 1 running task" has_n_tasks 1 api running
cap svc-secrets-configs.json service inspect api
cap task-secrets-configs.json inspect --type task "$(tasks api running | head -n1)"
cap network-ingress.json network inspect ingress
cap network-appnet.json network inspect appnet

wait_until "$POLL" "noimage: 1 rejected task" has_n_tasks 1 noimage rejected
cap task-rejected.json inspect --type task "$(tasks noimage rejected | head -n1)"

wait_until "$POLL" "failing: 1 failed task" has_n_tasks 1 failing failed
cap task-failed.json inspect --type task "$(tasks failing failed | head -n1)"

wait_until "$POLL" "unschedulable: 1 pending task" has_n_tasks 1 unschedulable pending
cap task-pending.json inspect --type task "$(tasks unschedulable pending | head -n1)"

capapi services-status-api.json '/services?status=true&filters=%7B%22name%22%3A%5B%22web%22%5D%7D'
note "   (the query is status=true&filters={\"name\":[\"web\"]}, URL-encoded)"

# ---------------------------------------------------------------- update
log "rolling update of web (start-first, parallelism 2, delay 10s, monitor 7s)"
dk service update --image local/busybox:2 --env-add C=3 --detach web >/dev/null
wait_until "$UPDATE_POLL" "web: update finished" update_done web
wait_until "$POLL" "web: an old task shut down" has_n_tasks 1 web shutdown shutdown
cap svc-replicated-updated.json service inspect web
cap task-shutdown.json inspect --type task "$(tasks web shutdown shutdown | head -n1)"

# ---------------------------------------------------------------- swarm init with flags
log "re-init swarm with non-default init flags"
ids="$(docker service ls -q)"
dk service rm $ids >/dev/null
no_containers() { [ -z "$(docker ps -q)" ]; }
wait_until "$POLL" "all task containers stopped" no_containers
dk swarm leave --force >/dev/null
dk swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 \
    --default-addr-pool 10.30.0.0/16 --default-addr-pool-mask-length 26 --data-path-port 4790 \
    --task-history-limit 3 --dispatcher-heartbeat 7s --cert-expiry 1000h \
    --snapshot-interval 2000 --max-snapshots 1 --autolock --availability active >/dev/null
capapi swarm-init-flags.json /swarm
dk swarm leave --force >/dev/null

# ---------------------------------------------------------------- write out
{
    echo "# Commands that produced the golden fixtures"
    echo
    echo "Generated by \`capture.sh\` (do not edit by hand)."
    echo
    echo "- date (UTC): $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- docker CLI: $CLI_VERSION ($(command -v docker))"
    echo "- dockerd: $SRV_VERSION ($(command -v dockerd))"
    echo "- containerd: $CTRD_VERSION"
    echo "- kernel: $(uname -sr); OS: $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- \$D is a fresh \`mktemp -d\` dir; DOCKER_HOST=unix://\$D/docker.sock"
    echo
    echo "Each \`### FILE\` heading is followed by the command whose stdout is FILE;"
    echo "everything is listed in execution order (ids are those of this run)."
    echo
    echo '```'
    cat "$CMDLOG"
    echo '```'
} >"$OUT/commands.md"

for f in "$OUT"/*.json; do
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" || die "$f invalid"
done
rm -f "$GOLDEN"/*.json
cp "$OUT"/*.json "$OUT/commands.md" "$GOLDEN/"
log "wrote $(ls "$OUT"/*.json | wc -l) fixtures to $GOLDEN"
