#!/usr/bin/env bash
# Runs the whole test suite on a Debian machine that has only Rust: first installs, with apt-get, the
# outside programs some tests drive (nothing is ever skipped, so a missing one would fail its test):
#   - postfix      for /usr/sbin/smtp-sink (the delivery test against Postfix's sink); pre-seeded
#                  "No configuration", so no Postfix service is configured or started (the test
#                  starts smtp-sink itself);
#   - chromium and chromium-driver   for the console's browser tests (headless, through chromedriver);
#   - openssl      for the sender-check tests, which make DKIM and ARC keys with it;
#   - python3-dkim, python3-nacl, python3-dnspython   dkimpy, the independent DKIM/ARC verifier the
#                  sender-check tests ask (any python3 on PATH that already imports them will do);
#   - pebble       Let's Encrypt's ACME test server, for the ACME test (a throwaway process on
#                  loopback with its own config, stopped by PID);
#   - postgresql   for the cluster tests, which start a throwaway server (initdb + pg_ctl on a private
#                  data directory and port, as the `postgres` user) and stop it by PID; the package's
#                  own cluster is not used;
#   - systemd      for `systemd-analyze verify` and `security --offline=true` on the packaged unit (no
#                  systemd is started); binutils for `readelf` (the packaged binary's sections).
# and, with cargo, cargo-deb (the package test builds the .deb with debian/build-deb.sh).
# Then `cargo test --workspace --no-fail-fast` (extra arguments are passed to it).
# As root it installs what is missing; otherwise it uses `sudo -n` when that works, and else names
# the packages to install and exits 1. The full-disk fault test mounts a tmpfs and needs root.
set -euo pipefail
cd "$(dirname "$0")"

# path of the program a test needs -> the Debian package that provides it
declare -A NEEDED=(
    [/usr/sbin/smtp-sink]=postfix
    [/usr/bin/chromium]=chromium
    [/usr/bin/chromedriver]=chromium-driver
    [/usr/bin/openssl]=openssl
    [/usr/bin/pebble]=pebble
    [/usr/bin/systemd-analyze]=systemd
    [/usr/bin/readelf]=binutils
)

# True when a python3 (the one on PATH, or Debian's) imports dkimpy, PyNaCl and dnspython.
have_dkimpy() {
    local python
    for python in python3 /usr/bin/python3; do
        "$python" -c 'import dkim, nacl, dns.resolver' >/dev/null 2>&1 && return 0
    done
    return 1
}

missing_packages() {
    local path
    {
        for path in "${!NEEDED[@]}"; do
            [ -x "$path" ] || echo "${NEEDED[$path]}"
        done
        # The server binaries' path carries the major version (15 on Debian 12).
        compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || echo postgresql
        have_dkimpy || printf '%s\n' python3-dkim python3-nacl python3-dnspython
    } | sort -u
}

# Runs a command as root: directly, or through passwordless sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo -n "$@"
    fi
}

# Answers Postfix's install question ("No configuration"); debconf's database is locked while another
# apt run configures packages, so wait for it (bounded: 10 minutes).
preseed_postfix() {
    local try
    for try in $(seq 120); do
        if echo "postfix postfix/main_mailer_type select No configuration" |
            as_root debconf-set-selections 2>/dev/null; then
            return 0
        fi
        [ "$try" -eq 1 ] && echo "test.sh: debconf is locked by another apt run; waiting"
        sleep 5
    done
    echo "test.sh: debconf stayed locked for 10 minutes" >&2
    return 1
}

install_packages() {
    local packages=("$@")
    echo "test.sh: installing ${packages[*]} with apt-get"
    # Other apt runs (unattended upgrades, another build) may hold the lock for a while: wait for it.
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q)
    as_root "${apt[@]}" update
    local package others=()
    for package in "${packages[@]}"; do
        if [ "$package" = postfix ]; then
            preseed_postfix
            as_root "${apt[@]}" install -y --no-install-recommends postfix
        elif [ "$package" = postgresql ]; then
            as_root "${apt[@]}" install -y --no-install-recommends postgresql
        else
            others+=("$package")
        fi
    done
    if [ "${#others[@]}" -gt 0 ]; then
        as_root "${apt[@]}" install -y "${others[@]}"
    fi
}

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
        install_packages "${missing[@]}"
    else
        cat >&2 <<EOF
test.sh: the test suite needs programs that are not installed, and this user can neither install
them (not root) nor use sudo without a password. As root, run:

    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}

then run ./test.sh again (or run ./test.sh as root, which does both).
EOF
        exit 1
    fi
fi
mapfile -t still_missing < <(missing_packages)
if [ "${#still_missing[@]}" -gt 0 ]; then
    echo "test.sh: still missing after the install: ${still_missing[*]}" >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: note: not root, so the full-disk fault test cannot mount its tmpfs and will fail" >&2
fi
cargo --version
if ! cargo deb --version >/dev/null 2>&1; then
    echo "test.sh: installing cargo-deb with cargo (the package test builds the .deb with it)"
    cargo install cargo-deb --locked
fi
cargo test --workspace --no-fail-fast "$@"
