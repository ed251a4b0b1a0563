# Shared by scripts/install, scripts/up and scripts/test. Sourced, not run.
# shellcheck shell=bash

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="$REPO_DIR/.venv"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Become root: these scripts install Debian packages and the cloud drives
# namespaces, bridges and QEMU. Works when run as root or through sudo.
ensure_root() {
    if [ "$(id -u)" -eq 0 ]; then
        return 0
    fi
    command -v sudo >/dev/null 2>&1 || die "run this as root (sudo is not installed)"
    log "re-running as root through sudo"
    # sudo resets the environment: carry CI and the GUREUM_* settings across.
    local name
    local -a keep=()
    for name in $(compgen -e); do
        case "$name" in CI|GUREUM_*) keep+=("$name=${!name}") ;; esac
    done
    exec sudo env "${keep[@]}" "$0" "$@"
}

# Files made in the user's clone through sudo belong to that user again.
give_back_to_sudo_user() {
    [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ] || return 0
    chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$@" 2>/dev/null || true
}
