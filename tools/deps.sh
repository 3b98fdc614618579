#!/bin/sh
# Finds the Debian packages azul needs and installs the missing ones with
# apt-get (through sudo when not root).  Called by `make deps`, which every
# build, test and demo target runs first.  Extra packages may be passed as
# arguments (e.g. `tools/deps.sh sentencepiece` for the benchmark).
set -eu

packages="gcc make libc6-dev libutf8proc-dev libstb-dev libcjson-dev libedit-dev libcmocka-dev $*"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "azul: this is not a Debian-like system (no dpkg-query); make sure these are installed:" >&2
    echo "  $packages" >&2
    echo "  (C11 compiler, make, utf8proc, stb, cJSON, libedit and cmocka development files)" >&2
    exit 0  # let the build try: the compiler will say what is missing
fi

missing=""
for p in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

echo "azul: missing Debian packages:$missing"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "azul: apt-get is not available; install them by hand:" >&2
    echo "  apt-get install$missing" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "azul: not root and no sudo; as root, run:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
echo "azul: running: $sudo apt-get update && $sudo apt-get install -y$missing"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
echo "azul: installed:$missing"
