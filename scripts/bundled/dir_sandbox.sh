#!/bin/sh
# dir_sandbox.sh: a sandbox backend for offload's `default` provider in which
# every sandbox is a private copy of an image directory on this machine, and
# (when bubblewrap is installed and OFFLOAD_DIR_SANDBOX_ISOLATE is not 0)
# commands run inside bwrap with the copy mounted at the sandbox root path,
# no network, and a private /tmp.
#
#   prepare SRC_DIR [INIT_CMD]   copy SRC_DIR into a new image dir, run INIT_CMD there; prints the image id
#   create IMAGE_ID              copy the image into a new sandbox dir; prints the sandbox id
#   exec SANDBOX_ID COMMAND      run COMMAND (a shell string) inside the sandbox; exit status is COMMAND's
#   download SANDBOX_ID 'REMOTE':'LOCAL' ...   copy files out (a missing REMOTE is skipped)
#   destroy SANDBOX_ID           remove the sandbox
#
# State lives under ${OFFLOAD_DIR_SANDBOX_HOME:-${TMPDIR:-/tmp}/offload-dir-sandbox}.
set -eu
home=${OFFLOAD_DIR_SANDBOX_HOME:-${TMPDIR:-/tmp}/offload-dir-sandbox}
root=${OFFLOAD_DIR_SANDBOX_ROOT:-/app}
mkdir -p "$home/images" "$home/sandboxes"

new_id() { printf '%s-%s' "$1" "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
prepare)
  src=${1:?source dir}; init=${2:-}
  id=$(new_id im)
  mkdir -p "$home/images/$id"
  (cd "$src" && tar -c --exclude=./.git --exclude=./test-results . ) | (cd "$home/images/$id" && tar -x)
  if [ -n "$init" ]; then (cd "$home/images/$id" && sh -c "$init") >&2; fi
  echo "$id"
  ;;
create)
  image=${1:?image id}
  [ -d "$home/images/$image" ] || { echo "no such image: $image" >&2; exit 1; }
  id=$(new_id sb)
  mkdir -p "$home/sandboxes/$id/root" "$home/sandboxes/$id/tmp"
  cp -a "$home/images/$image/." "$home/sandboxes/$id/root/"
  echo "$id"
  ;;
exec)
  id=${1:?sandbox id}; shift
  dir="$home/sandboxes/$id"
  [ -d "$dir" ] || { echo "no such sandbox: $id" >&2; exit 125; }
  if command -v bwrap >/dev/null 2>&1 && [ "${OFFLOAD_DIR_SANDBOX_ISOLATE:-1}" != 0 ]; then
    exec bwrap --ro-bind / / --dev /dev --proc /proc --bind "$dir/tmp" /tmp \
      --bind "$dir/root" "$root" --unshare-net --unshare-pid --die-with-parent \
      --chdir "$root" sh -c "$*"
  fi
  cd "$dir/root" && exec sh -c "$*"
  ;;
download)
  id=${1:?sandbox id}; shift
  dir="$home/sandboxes/$id"
  for pair in "$@"; do
    remote=${pair%%:*}; local=${pair#*:}
    case "$remote" in
      /tmp/*) src="$dir/tmp/${remote#/tmp/}";;
      "$root"/*) src="$dir/root/${remote#"$root"/}";;
      /*) src="$remote";;
      *) src="$dir/root/$remote";;
    esac
    [ -e "$src" ] || continue
    mkdir -p "$(dirname "$local")"
    cp -a "$src" "$local"
  done
  ;;
destroy)
  id=${1:?sandbox id}
  rm -rf "$home/sandboxes/$id"
  ;;
*)
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
