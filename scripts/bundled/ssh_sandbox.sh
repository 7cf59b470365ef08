#!/bin/sh
# ssh_sandbox.sh: a sandbox backend for offload's `default` provider in which
# every sandbox is a directory on an ssh host. Same subcommands and prepare
# environment contract as dir_sandbox.sh:
#
#   prepare [SRC_DIR [INIT_CMD]]  tar the project (and OFFLOAD_COPY_DIRS) over ssh into a new
#                                 image dir; run OFFLOAD_SANDBOX_INIT_CMD there; prints the image id.
#                                 With OFFLOAD_BASE_IMAGE: copy that image, apply OFFLOAD_PATCH_FILE
#                                 (git apply on the host), run OFFLOAD_POST_PATCH_CMD.
#   create IMAGE_ID               copy the image into a new sandbox dir; prints the sandbox id
#   exec SANDBOX_ID COMMAND       run COMMAND there; exit status is COMMAND's, 125 when the
#                                 sandbox does not exist, 255 when ssh fails
#   download SANDBOX_ID 'REMOTE':'LOCAL' ...   copy files back (a missing REMOTE is skipped)
#   destroy SANDBOX_ID            stop what still runs in the sandbox and remove it
#   close                         stop the shared ssh connection
#
# Connection: OFFLOAD_SSH_HOST (required), OFFLOAD_SSH_PORT, OFFLOAD_SSH_USER,
# OFFLOAD_SSH_KEY, OFFLOAD_SSH_OPTS (extra ssh options, split at spaces).
# Calls share one multiplexed connection (ControlMaster; sockets under
# OFFLOAD_SSH_CONTROL_DIR, kept OFFLOAD_SSH_PERSIST seconds, default 60).
# On the host: state under OFFLOAD_SSH_DIR (default /tmp/offload-ssh-sandbox);
# commands run under bwrap (when installed there and OFFLOAD_SSH_ISOLATE is
# not 0) with the sandbox mounted at the sandbox root (OFFLOAD_PROJECT_ROOT,
# default /app); without bwrap they run in the sandbox directory, so use a
# relative sandbox_project_root (".") then.
set -eu

# ---------------------------------------------------------------- host side
# `agent` subcommands run ON the ssh host (this file is uploaded there).
if [ "${1:-}" = agent ]; then
  shift
  base=$1; root=$2; isolate=$3; sub=$4; shift 4
  mkdir -p "$base/images" "$base/sandboxes"
  new_id() { printf '%s-%s' "$1" "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"; }
  die() { echo "ssh_sandbox.sh (on $(hostname)): $*" >&2; exit 1; }
  isolated() { [ "$isolate" != 0 ] && command -v bwrap >/dev/null 2>&1; }
  run_in() {
    tree=$1; tmp=$2; shift 2
    if ! isolated; then
      cd "$tree" && TMPDIR=$tmp exec sh -c "$1"
    fi
    rest=${root#/}; first=/${rest%%/*}
    [ "$first" = / ] && die "the sandbox root cannot be /"
    if [ -e "$first" ] && [ ! -d "$root" ]; then
      die "cannot mount the sandbox at $root: $first exists but $root does not"
    fi
    cmdline=$1
    set --
    for e in /* /.[!.]*; do
      [ -e "$e" ] || [ -L "$e" ] || continue
      case "$e" in /tmp|/proc|/dev|"$first") continue;; esac
      if [ -L "$e" ]; then set -- "$@" --symlink "$(readlink "$e")" "$e"; else set -- "$@" --ro-bind "$e" "$e"; fi
    done
    [ -e "$first" ] && [ "$first" != "$root" ] && set -- "$@" --ro-bind "$first" "$first"
    exec bwrap "$@" --dev /dev --proc /proc --bind "$tmp" /tmp --bind "$tree" "$root" \
      --unshare-net --unshare-pid --die-with-parent --chdir "$root" sh -c "$cmdline"
  }
  case "$sub" in
  unpack) # stdin: tar of the image; INIT_CMD
    id=$(new_id im); img="$base/images/$id"; mkdir -p "$img" "$img.tmp"
    tar -x -C "$img"
    if [ -n "${1:-}" ]; then (run_in "$img" "$img.tmp" "$1") >&2 || { rm -rf "$img" "$img.tmp"; die "sandbox_init_cmd failed"; }; fi
    rm -rf "$img.tmp"; echo "$id" ;;
  derive) # stdin: the patch (may be empty); BASE POST_PATCH_CMD
    src="$base/images/$1"; [ -d "$src" ] || die "no such base image: $1"
    id=$(new_id im); img="$base/images/$id"; mkdir -p "$img" "$img.tmp"
    cp -a "$src/." "$img/"
    cat >"$img.tmp/offload.patch"
    if [ -s "$img.tmp/offload.patch" ]; then
      if command -v git >/dev/null 2>&1; then
        (cd "$img" && GIT_CEILING_DIRECTORIES=$(dirname "$img") git apply --binary --whitespace=nowarn "$img.tmp/offload.patch") >&2
      else
        (cd "$img" && patch -p1 --batch <"$img.tmp/offload.patch") >&2
      fi || { rm -rf "$img" "$img.tmp"; die "applying the patch failed"; }
    fi
    if [ -n "${2:-}" ]; then
      p=/tmp/offload.patch; isolated || p="$img.tmp/offload.patch"
      (OFFLOAD_PATCH_FILE=$p; export OFFLOAD_PATCH_FILE; run_in "$img" "$img.tmp" "$2") >&2 \
        || { rm -rf "$img" "$img.tmp"; die "post_patch_cmd failed"; }
    fi
    rm -rf "$img.tmp"; echo "$id" ;;
  create)
    [ -d "$base/images/$1" ] || die "no such image: $1"
    id=$(new_id sb); mkdir -p "$base/sandboxes/$id/root" "$base/sandboxes/$id/tmp"
    cp -a "$base/images/$1/." "$base/sandboxes/$id/root/"; echo "$id" ;;
  exec)
    dir="$base/sandboxes/$1"
    [ -d "$dir/root" ] || { echo "ssh_sandbox.sh: no such sandbox: $1" >&2; exit 125; }
    ps -o pgid= -p $$ 2>/dev/null | tr -d ' ' >"$dir/exec.pgid" || true
    set +e; (run_in "$dir/root" "$dir/tmp" "$2"); rc=$?; rm -f "$dir/exec.pgid"; exit $rc ;;
  cat) # print one file of the sandbox; exit 3 when it does not exist
    dir="$base/sandboxes/$1"; remote=$2
    if isolated; then
      case "$remote" in
        /tmp/*) src="$dir/tmp/${remote#/tmp/}";; "$root"/*) src="$dir/root/${remote#"$root"/}";;
        /*) src=$remote;; *) src="$dir/root/$remote";;
      esac
    else
      case "$remote" in
        /tmp/*) src="$dir/tmp/${remote#/tmp/}"; [ -e "$src" ] || src=$remote;;
        /*) src=$remote;; *) src="$dir/root/$remote";;
      esac
    fi
    [ -f "$src" ] || exit 3
    cat "$src" ;;
  destroy)
    dir="$base/sandboxes/$1"
    if [ -s "$dir/exec.pgid" ]; then
      pg=$(cat "$dir/exec.pgid")
      [ "$pg" -gt 1 ] 2>/dev/null && kill -9 -- "-$pg" 2>/dev/null || true
    fi
    rm -rf "$dir" ;;
  *) die "unknown agent command: $sub" ;;
  esac
  exit 0
fi

# -------------------------------------------------------------- client side
die() { echo "ssh_sandbox.sh: $*" >&2; exit 1; }
host=${OFFLOAD_SSH_HOST:?set OFFLOAD_SSH_HOST (and OFFLOAD_SSH_PORT/USER/KEY) for ssh_sandbox.sh}
base=${OFFLOAD_SSH_DIR:-/tmp/offload-ssh-sandbox}
root=${OFFLOAD_SSH_ROOT:-${OFFLOAD_PROJECT_ROOT:-${OFFLOAD_ROOT:-/app}}}
ctl=${OFFLOAD_SSH_CONTROL_DIR:-${TMPDIR:-/tmp}/offload-ssh-$(id -u)}
mkdir -p "$ctl" && chmod 700 "$ctl"
agent_sum=$(cksum <"$0" | cut -d' ' -f1)
agent="$base/agent-$agent_sum.sh"

# q STRING: one POSIX single-quoted word.
q() {
  if [ -z "$1" ]; then printf "''"; return; fi
  printf '%s' "$1" | sed "s/'/'\\\\''/g; 1s/^/'/; \$s/\$/'/"
}

# ssh_run REMOTE_COMMAND: run a shell string on the host (stdin forwarded).
ssh_run() {
  set -- -o BatchMode=yes -o ControlMaster=auto -o "ControlPath=$ctl/%C" \
    -o "ControlPersist=${OFFLOAD_SSH_PERSIST:-60}" -o ServerAliveInterval=15 ${OFFLOAD_SSH_OPTS:-} \
    ${OFFLOAD_SSH_PORT:+-p "$OFFLOAD_SSH_PORT"} ${OFFLOAD_SSH_KEY:+-i "$OFFLOAD_SSH_KEY"} \
    ${OFFLOAD_SSH_USER:+-l "$OFFLOAD_SSH_USER"} "$host" "$1"
  ssh "$@"
}

# agent SUB ARGS...: run this script's host side (uploading it when missing).
agent() {
  words="sh $(q "$agent") agent $(q "$base") $(q "$root") $(q "${OFFLOAD_SSH_ISOLATE:-1}")"
  for a in "$@"; do words="$words $(q "$a")"; done
  ssh_run "$words"
}
upload_agent() {
  ssh_run "mkdir -p $(q "$base") && { [ -f $(q "$agent") ] || { cat >$(q "$agent.$$") && mv $(q "$agent.$$") $(q "$agent"); }; }" <"$0"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
prepare)
  upload_agent
  if [ -n "${OFFLOAD_BASE_IMAGE:-}" ]; then
    patch=${OFFLOAD_PATCH_FILE:-/dev/null}; [ -e "$patch" ] || patch=/dev/null
    agent derive "$OFFLOAD_BASE_IMAGE" "${OFFLOAD_POST_PATCH_CMD:-}" <"$patch"
  else
    src=${OFFLOAD_CONTEXT_DIR:-${1:-.}}
    init=${OFFLOAD_SANDBOX_INIT_CMD:-${2:-}}
    [ -d "$src" ] || die "no such directory: $src"
    stage=$(mktemp -d "${TMPDIR:-/tmp}/offload-ssh-stage.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    (cd "$src" && tar -c --exclude=./.git --exclude=./test-results .) | (cd "$stage" && tar -x)
    if [ -n "${OFFLOAD_COPY_DIRS:-}" ]; then
      printf '%s\n' "$OFFLOAD_COPY_DIRS" | while IFS= read -r pair; do
        [ -n "$pair" ] || continue
        from=${pair%%:*}; to=${pair#*:}
        case "$to" in
          "$root") rel=.;; "$root"/*) rel=${to#"$root"/};;
          /*) die "copy dir target $to is outside the sandbox root $root";; *) rel=$to;;
        esac
        mkdir -p "$stage/$rel"
        (cd "$from" && tar -c .) | (cd "$stage/$rel" && tar -x)
      done
    fi
    (cd "$stage" && tar -c .) | agent unpack "$init"
  fi
  ;;
create)
  upload_agent
  agent create "${1:?image id}"
  ;;
exec)
  id=${1:?sandbox id}; shift
  agent exec "$id" "$*"
  ;;
download)
  id=${1:?sandbox id}; shift
  for pair in "$@"; do
    remote=${pair%%:*}; local=${pair#*:}
    mkdir -p "$(dirname "$local")"
    set +e
    agent cat "$id" "$remote" </dev/null >"$local.part"
    rc=$?
    set -e
    case $rc in
      0) mv "$local.part" "$local";;
      3) rm -f "$local.part";;
      *) rm -f "$local.part"; exit $rc;;
    esac
  done
  ;;
destroy)
  agent destroy "${1:?sandbox id}" </dev/null
  ;;
close)
  ssh -o "ControlPath=$ctl/%C" ${OFFLOAD_SSH_PORT:+-p "$OFFLOAD_SSH_PORT"} ${OFFLOAD_SSH_USER:+-l "$OFFLOAD_SSH_USER"} \
    -O exit "$host" 2>/dev/null || true
  ;;
*)
  sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
