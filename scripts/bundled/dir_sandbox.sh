#!/bin/sh
# dir_sandbox.sh: a sandbox backend for offload's `default` provider in which
# every sandbox is a private copy of an image directory on this machine, and
# (when bubblewrap is installed and OFFLOAD_DIR_SANDBOX_ISOLATE is not 0)
# commands run inside bwrap with the copy mounted at the sandbox root path
# (OFFLOAD_PROJECT_ROOT / OFFLOAD_DIR_SANDBOX_ROOT, default /app), no network,
# a private /tmp and the rest of the machine read-only.
#
#   prepare [SRC_DIR [INIT_CMD]]  build an image; prints its id (see below)
#   create IMAGE_ID               copy the image into a new sandbox dir; prints the sandbox id
#   exec SANDBOX_ID COMMAND       run COMMAND (a shell string) in the sandbox; exit status is
#                                 COMMAND's, 125 when the sandbox does not exist
#   download SANDBOX_ID 'REMOTE':'LOCAL' ...   copy files out (a missing REMOTE is skipped)
#   destroy SANDBOX_ID            remove the sandbox (and stop what still runs in it)
#
# prepare follows the default provider's environment contract:
#   full image:    copy OFFLOAD_CONTEXT_DIR (else SRC_DIR, else the current
#                  directory) and OFFLOAD_COPY_DIRS (lines "local:remote"),
#                  then run OFFLOAD_SANDBOX_INIT_CMD in the image root.
#   derived image: OFFLOAD_BASE_IMAGE set: copy that image, apply
#                  OFFLOAD_PATCH_FILE with `git apply --binary` (host git; the
#                  image needs no offload), then run OFFLOAD_POST_PATCH_CMD
#                  with OFFLOAD_PATCH_FILE=/tmp/offload.patch.
# State lives under ${OFFLOAD_DIR_SANDBOX_HOME:-${TMPDIR:-/tmp}/offload-dir-sandbox}.
set -eu
home=${OFFLOAD_DIR_SANDBOX_HOME:-${TMPDIR:-/tmp}/offload-dir-sandbox}
root=${OFFLOAD_DIR_SANDBOX_ROOT:-${OFFLOAD_PROJECT_ROOT:-${OFFLOAD_ROOT:-/app}}}
mkdir -p "$home/images" "$home/sandboxes"

new_id() { printf '%s-%s' "$1" "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"; }
die() { echo "dir_sandbox.sh: $*" >&2; exit 1; }

isolated() {
  [ "${OFFLOAD_DIR_SANDBOX_ISOLATE:-1}" != 0 ] && command -v bwrap >/dev/null 2>&1
}

# run_in TREE TMP COMMAND: run COMMAND with TREE at $root (read-write) and TMP
# at /tmp. With bwrap the new root is a tmpfs holding read-only binds of the
# machine's top-level entries, so $root need not exist here.
run_in() {
  tree=$1; tmp=$2; shift 2
  if ! isolated; then
    cd "$tree" && TMPDIR=$tmp exec sh -c "$1"
  fi
  case "$root" in /*) ;; *) die "the sandbox root must be absolute under bwrap: $root";; esac
  rest=${root#/}; first=/${rest%%/*}
  [ "$first" = / ] && die "the sandbox root cannot be /"
  if [ -e "$first" ] && [ ! -d "$root" ]; then
    die "cannot mount the sandbox at $root: $first exists here but $root does not (choose another sandbox root)"
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

# copy_tree SRC DST: copy a directory's contents (without .git and test-results).
copy_tree() {
  mkdir -p "$2"
  (cd "$1" && tar -c --exclude=./.git --exclude=./test-results .) | (cd "$2" && tar -x)
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
prepare)
  id=$(new_id im)
  img="$home/images/$id"
  work=$(mktemp -d "$home/prepare.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/tmp"
  if [ -n "${OFFLOAD_BASE_IMAGE:-}" ]; then
    base="$home/images/$OFFLOAD_BASE_IMAGE"
    [ -d "$base" ] || die "no such base image: $OFFLOAD_BASE_IMAGE"
    mkdir -p "$img"
    cp -a "$base/." "$img/"
    patch_in_image=
    if [ -n "${OFFLOAD_PATCH_FILE:-}" ] && [ -s "$OFFLOAD_PATCH_FILE" ]; then
      cp "$OFFLOAD_PATCH_FILE" "$work/tmp/offload.patch"
      patch_in_image=/tmp/offload.patch
      if command -v git >/dev/null 2>&1; then
        # Outside any repository, git apply is a patch tool that understands binary diffs.
        (cd "$img" && GIT_CEILING_DIRECTORIES=$(dirname "$img") git apply --binary --whitespace=nowarn "$work/tmp/offload.patch") >&2 \
          || { rm -rf "$img"; die "applying $OFFLOAD_PATCH_FILE to image $OFFLOAD_BASE_IMAGE failed"; }
      else
        (cd "$img" && patch -p1 --batch <"$work/tmp/offload.patch") >&2 \
          || { rm -rf "$img"; die "applying $OFFLOAD_PATCH_FILE to image $OFFLOAD_BASE_IMAGE failed"; }
      fi
    fi
    if [ -n "${OFFLOAD_POST_PATCH_CMD:-}" ]; then
      [ -n "$patch_in_image" ] || : >"$work/tmp/offload.patch"
      (OFFLOAD_PATCH_FILE=/tmp/offload.patch; export OFFLOAD_PATCH_FILE
       isolated || OFFLOAD_PATCH_FILE="$work/tmp/offload.patch"
       run_in "$img" "$work/tmp" "$OFFLOAD_POST_PATCH_CMD") >&2 \
        || { rm -rf "$img"; die "post_patch_cmd failed"; }
    fi
  else
    src=${OFFLOAD_CONTEXT_DIR:-${1:-.}}
    init=${OFFLOAD_SANDBOX_INIT_CMD:-${2:-}}
    [ -d "$src" ] || die "no such directory: $src"
    copy_tree "$src" "$img"
    if [ -n "${OFFLOAD_COPY_DIRS:-}" ]; then
      printf '%s\n' "$OFFLOAD_COPY_DIRS" | while IFS= read -r pair; do
        [ -n "$pair" ] || continue
        from=${pair%%:*}; to=${pair#*:}
        case "$to" in
          "$root") rel=.;;
          "$root"/*) rel=${to#"$root"/};;
          /*) rm -rf "$img"; die "copy dir target $to is outside the sandbox root $root";;
          *) rel=$to;;
        esac
        [ -d "$from" ] || { rm -rf "$img"; die "copy dir source is not a directory: $from"; }
        copy_tree "$from" "$img/$rel"
      done
    fi
    if [ -n "$init" ]; then
      (run_in "$img" "$work/tmp" "$init") >&2 || { rm -rf "$img"; die "sandbox_init_cmd failed"; }
    fi
  fi
  echo "$id"
  ;;
create)
  image=${1:?image id}
  [ -d "$home/images/$image" ] || die "no such image: $image"
  id=$(new_id sb)
  mkdir -p "$home/sandboxes/$id/root" "$home/sandboxes/$id/tmp"
  cp -a "$home/images/$image/." "$home/sandboxes/$id/root/"
  echo "$id"
  ;;
exec)
  id=${1:?sandbox id}; shift
  dir="$home/sandboxes/$id"
  [ -d "$dir/root" ] || { echo "dir_sandbox.sh: no such sandbox: $id" >&2; exit 125; }
  # The process group of this command while it runs, so destroy can stop
  # what is left of it (a pgid is only recorded while it is ours).
  ps -o pgid= -p $$ 2>/dev/null | tr -d ' ' >"$dir/exec.pgid" || true
  set +e
  (run_in "$dir/root" "$dir/tmp" "$*")
  rc=$?
  rm -f "$dir/exec.pgid"
  exit $rc
  ;;
download)
  id=${1:?sandbox id}; shift
  dir="$home/sandboxes/$id"
  [ -d "$dir" ] || die "no such sandbox: $id"
  for pair in "$@"; do
    remote=${pair%%:*}; local=${pair#*:}
    if isolated; then
      case "$remote" in
        /tmp/*) src="$dir/tmp/${remote#/tmp/}";;
        "$root"/*) src="$dir/root/${remote#"$root"/}";;
        /*) src="$remote";;
        *) src="$dir/root/$remote";;
      esac
    else
      case "$remote" in
        /tmp/*) src="$dir/tmp/${remote#/tmp/}"; [ -e "$src" ] || src=$remote;;
        /*) src="$remote";;
        *) src="$dir/root/$remote";;
      esac
    fi
    [ -e "$src" ] || continue
    mkdir -p "$(dirname "$local")"
    cp -a "$src" "$local"
  done
  ;;
destroy)
  id=${1:?sandbox id}
  dir="$home/sandboxes/$id"
  if [ -s "$dir/exec.pgid" ]; then
    pg=$(cat "$dir/exec.pgid")
    [ "$pg" -gt 1 ] 2>/dev/null && [ "$pg" != "$(ps -o pgid= -p $$ | tr -d ' ')" ] && kill -9 -- "-$pg" 2>/dev/null || true
  fi
  rm -rf "$dir"
  ;;
*)
  sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
