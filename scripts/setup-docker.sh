#!/usr/bin/env bash
# Prepare a Docker engine and the local test images Scaffold's tests and examples use.
#
# Idempotent; run as root (CI runs it on a fresh Debian machine). It:
#   1. installs docker.io and busybox-static with apt-get when they are missing;
#   2. starts dockerd in the background when no engine answers (through systemd when it runs,
#      else directly: first with --iptables=false --bridge=none, which works in containers and
#      sandboxes without iptables, then normally), logging to $SCAFFOLD_DOCKERD_LOG, and waits
#      up to 60 s;
#   3. builds scaffold-test/busybox:latest, a tiny image made of a static busybox (no registry
#      needed), and tags it ubuntu:20.04, alpine:3.20 and busybox:latest -- the images the examples
#      name -- unless one of those tags already exists and is not ours.
#
# Environment:
#   DOCKER_HOST               the engine to use (default: the local socket)
#   SCAFFOLD_DOCKERD_ARGS     extra dockerd arguments (e.g. -H, --data-root for a private engine)
#   SCAFFOLD_DOCKERD_LOG      dockerd's log file (default /var/log/scaffold-dockerd.log)
#   SCAFFOLD_REBUILD_IMAGE=1  rebuild the test image even if it exists
set -euo pipefail

IMAGE=scaffold-test/busybox:latest
ALIASES=(ubuntu:20.04 alpine:3.20 busybox:latest)
MARK_LABEL=org.scaffold.test-image
DOCKERD_LOG=${SCAFFOLD_DOCKERD_LOG:-/var/log/scaffold-dockerd.log}
read -r -a EXTRA_ARGS <<<"${SCAFFOLD_DOCKERD_ARGS:-}"
DID=()

say() { echo "setup-docker: $*"; }
did() { DID+=("$*"); say "$*"; }
die() { echo "setup-docker: error: $*" >&2; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

find_static_busybox() {
    local candidate linkage
    for candidate in /bin/busybox /usr/bin/busybox "$(command -v busybox 2>/dev/null || true)"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        linkage=$(LC_ALL=C ldd "$candidate" 2>&1 || true) # ldd exits 1 for a static binary
        if [[ $linkage == *"not a dynamic executable"* || $linkage == *"statically linked"* ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

install_packages() {
    local missing=()
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        missing+=(docker.io)
    fi
    find_static_busybox >/dev/null || missing+=(busybox-static)
    if [ ${#missing[@]} -eq 0 ]; then
        say "docker and a static busybox are already installed"
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root: run it with sudo"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    did "installed ${missing[*]}"
}

wait_for_engine() { # seconds pid
    local deadline=$((SECONDS + $1)) pid=${2:-}
    while [ $SECONDS -lt $deadline ]; do
        engine_answers && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1 # dockerd gave up
        fi
        sleep 1
    done
    return 1
}

start_dockerd() { # extra dockerd arguments...
    say "starting dockerd $* ${EXTRA_ARGS[*]} (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    echo "=== $(date -u +%FT%TZ) dockerd $* ${EXTRA_ARGS[*]}" >>"$DOCKERD_LOG"
    nohup dockerd "$@" "${EXTRA_ARGS[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null &
    DOCKERD_PID=$!
}

ensure_engine() {
    if engine_answers; then
        say "the Docker engine answers (${DOCKER_HOST:-unix:///var/run/docker.sock})"
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "no Docker engine answers and starting one needs root: run it with sudo"
    if [ -z "${SCAFFOLD_DOCKERD_ARGS:-}" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        if systemctl start docker 2>/dev/null && wait_for_engine 30; then
            did "started docker with systemctl"
            return
        fi
    fi
    # Without systemd (containers, CI machines) a dockerd that leaves the host's firewall and
    # bridges alone is the one that reliably starts; task containers then get no network of
    # their own, which Scaffold's tests and examples do not need. A full dockerd is the fallback.
    start_dockerd --iptables=false --bridge=none
    if wait_for_engine 60 "$DOCKERD_PID"; then
        did "started dockerd --iptables=false --bridge=none (pid $DOCKERD_PID)"
        return
    fi
    kill "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    start_dockerd
    if wait_for_engine 30 "$DOCKERD_PID"; then
        did "started dockerd (pid $DOCKERD_PID)"
        return
    fi
    tail -n 30 "$DOCKERD_LOG" >&2 || true
    die "dockerd did not answer within 60 s (see $DOCKERD_LOG)"
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null; }

build_image() {
    if [ -n "$(image_id "$IMAGE")" ] && [ "${SCAFFOLD_REBUILD_IMAGE:-0}" != 1 ]; then
        say "$IMAGE already exists"
        return
    fi
    local busybox root applet
    busybox=$(find_static_busybox) || die "no static busybox found (apt-get install busybox-static)"
    root=$(mktemp -d)
    trap 'rm -rf "$root"' RETURN
    mkdir -p "$root/bin" "$root/usr/bin" "$root/tmp" "$root/etc" "$root/root"
    cp "$busybox" "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    ln -sf ../../bin/busybox "$root/usr/bin/env"
    chmod 1777 "$root/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    tar -C "$root" -c . | docker import \
        --change "LABEL $MARK_LABEL=busybox" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/sh"]' \
        - "$IMAGE" >/dev/null
    did "built $IMAGE from $busybox"
}

is_ours() { # tag
    local id label
    id=$(image_id "$1") || return 1
    [ "$id" = "$(image_id "$IMAGE")" ] && return 0
    label=$(docker image inspect --format "{{ index .Config.Labels \"$MARK_LABEL\" }}" "$1" 2>/dev/null || true)
    [ "$label" = busybox ]
}

tag_aliases() {
    local tag
    for tag in "${ALIASES[@]}"; do
        if [ -z "$(image_id "$tag")" ]; then
            docker tag "$IMAGE" "$tag"
            did "tagged $IMAGE as $tag"
        elif [ "$(image_id "$tag")" = "$(image_id "$IMAGE")" ]; then
            say "$tag is already $IMAGE"
        elif is_ours "$tag"; then
            docker tag "$IMAGE" "$tag"
            did "re-tagged $tag to the current $IMAGE"
        else
            say "$tag exists and is a real image: left alone"
        fi
    done
}

smoke_test() {
    local out
    out=$(docker run --rm "$IMAGE" sh -c 'echo ok' 2>&1) || die "a test container failed to run: $out"
    [ "$out" = ok ] || die "a test container printed '$out' instead of 'ok'"
    say "a container runs with the default network mode"
}

install_packages
ensure_engine
build_image
tag_aliases
smoke_test
if [ ${#DID[@]} -eq 0 ]; then
    say "nothing to do: everything was already in place"
else
    say "done: ${#DID[@]} change(s)"
fi
