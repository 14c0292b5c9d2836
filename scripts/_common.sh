# Shared by scripts/setup-env and scripts/in-env: where the environment lives and how
# to enter it. Sourced, never executed.
#
# Two kinds of environment:
#   venv  glibc >= 2.39 and Python 3.10-3.13 on the host: a plain venv in .venv/.
#   root  older glibc (Debian 12, Ubuntu 22.04): a Debian 13 root filesystem, cached
#         outside the checkout and keyed by the lock file, entered through a private
#         mount namespace so no mount is ever visible on the host.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
LOCK_FILE="$REPO_ROOT/requirements.lock"
# Everything that decides what a root filesystem contains goes into its cache key.
ROOT_SUITE=trixie
ROOT_APT_PACKAGES="g++ make python3-dev python3-venv chromium"
ROOT_VENV=/opt/venv
# The environment a command sees inside the root: the venv first on PATH, and none of
# the host's pip configuration (its paths do not exist inside).
ROOT_ENV="-u PIP_FIND_LINKS -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null VIRTUAL_ENV=$ROOT_VENV
PATH=$ROOT_VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CACHE_DIR="${TFX_PIPELINE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/var/cache}/.cache}/tfx-pipeline}"

die() { echo "error: $*" >&2; exit 2; }
say() { echo "[env] $*" >&2; }

env_key() {
    { grep -v "^#" "$LOCK_FILE" 2>/dev/null; echo "suite=$ROOT_SUITE+security apt=$ROOT_APT_PACKAGES"; } \
        | sha256sum | cut -c1-16
}

# security_sources SOURCES_LIST: the apt line for ROOT_SUITE's security suite on the
# mirror that SOURCES_LIST (debootstrap's, which names the main suite only) uses.
security_sources() {
    sed -n "s#^deb \([^ ]*\) $ROOT_SUITE main\$#deb \1-security $ROOT_SUITE-security main#p" "$1" \
        | head -n1
}

version_ge() {  # version_ge A B: true when A >= B (dotted numbers)
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

host_python() {
    local py
    for py in python3.13 python3.12 python3.11 python3.10 python3; do
        if command -v "$py" >/dev/null 2>&1 \
            && "$py" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))' \
                2>/dev/null; then
            command -v "$py"
            return 0
        fi
    done
    return 1
}

# Decide the kind once; TFX_PIPELINE_ENV=root forces the root filesystem (for testing it
# on a new host).
choose_kind() {
    local glibc
    glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
    if [ "${TFX_PIPELINE_ENV:-}" != root ] && [ -n "$glibc" ] && version_ge "$glibc" 2.39 \
        && host_python >/dev/null; then
        ENV_KIND=venv
        VENV_DIR="$REPO_ROOT/.venv"
        ENV_MARKER="$VENV_DIR/.ready-$(env_key)"
    else
        ENV_KIND=root
        ROOT_DIR="$CACHE_DIR/root-$(env_key)"
        ENV_MARKER="$ROOT_DIR$ROOT_VENV/.ready"
        if [ "$(id -u)" != 0 ]; then
            die "this host has glibc ${glibc:-unknown}; TFX 1.21 needs glibc >= 2.39 with Python 3.10-3.13, or root access to build a Debian 13 environment with debootstrap."
        fi
    fi
}

# run_in_root ROOT CWD CMD...: run CMD inside ROOT in a private mount namespace. The
# checkout, ../shared, /tmp, /home and /root are bind-mounted read-write at their own
# paths so every path a user passes, and every path ML Metadata records, means the same
# inside and out. Besides them only what runs use: /proc, /sys read-only (without the
# host's cgroup and other mounts below it), and of /dev the character devices programs
# open, the pseudo-terminals and a private /dev/shm; no disks. This isolates libraries,
# it is not a sandbox: the process is root on the host's kernel.
run_in_root() {
    local root=$1 cwd=$2
    shift 2
    local binds=(/tmp /home /root "$REPO_ROOT")
    [ -d "$REPO_ROOT/../shared" ] && binds+=("$(cd "$REPO_ROOT/../shared" && pwd -P)")
    unshare --mount --propagation private --fork --kill-child -- \
        /bin/bash -euc '
            root=$1 cwd=$2 nbinds=$3
            shift 3
            binds=("${@:1:$nbinds}")
            shift "$nbinds"
            mount --bind /proc "$root/proc"
            mount --bind /sys "$root/sys"
            mount -o remount,bind,ro,nosuid,nodev,noexec "$root/sys"
            mount -t tmpfs -o mode=755,nosuid dev "$root/dev"
            for node in null zero full random urandom tty; do
                touch "$root/dev/$node"
                mount --bind "/dev/$node" "$root/dev/$node"
            done
            # Pseudo-terminals of its own (apt, Jupyter terminals), not those of the host.
            mkdir -p "$root/dev/pts" "$root/dev/shm"
            mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
            ln -s pts/ptmx "$root/dev/ptmx"
            mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
            ln -s /proc/self/fd "$root/dev/fd"
            ln -s /proc/self/fd/0 "$root/dev/stdin"
            ln -s /proc/self/fd/1 "$root/dev/stdout"
            ln -s /proc/self/fd/2 "$root/dev/stderr"
            # Beam SDK workers call the job service back by this machine name, which
            # the root does not know (debootstrap writes no /etc/hosts): the root sees the
            # host file plus that name, in this namespace only (unlinked once mounted).
            hosts=$(mktemp)
            { cat /etc/hosts 2>/dev/null; echo "127.0.0.1 localhost"
              echo "127.0.0.1 $(uname -n)"; } >"$hosts"
            [ -e "$root/etc/hosts" ] || : >"$root/etc/hosts"
            mount --bind "$hosts" "$root/etc/hosts"
            rm -f "$hosts"
            for dir in "${binds[@]}"; do
                [ -d "$dir" ] || continue
                mkdir -p "$root$dir"
                mount --bind "$dir" "$root$dir"
            done
            exec chroot "$root" /bin/bash -c '\''cd "$1" 2>/dev/null || {
                    echo "[env] $1 is not mounted inside the environment; running from /" >&2
                    cd /; }; shift; exec "$@"'\'' _ "$cwd" "$@"
        ' _ "$root" "$cwd" "${#binds[@]}" "${binds[@]}" "$@"
}
