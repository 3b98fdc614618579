#!/bin/sh
# Finds the Debian packages azul needs and installs the missing ones with
# apt-get (through sudo when not root).  Called by `make deps`, which every
# build, test and demo target runs first.  Extra packages may be passed as
# arguments (e.g. `tools/deps.sh sentencepiece` for the benchmark).
set -eu

packages="gcc make libc6-dev libutf8proc-dev libstb-dev libcjson-dev libedit-dev libmicrohttpd-dev libcmocka-dev curl $*"

if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian-like: we cannot install anything, but we can tell whether the
    # headers are there, and stop with the list when they are not.
    cc=${CC:-cc}
    for h in utf8proc.h stb/stb_ds.h cjson/cJSON.h histedit.h microhttpd.h cmocka.h; do
        if ! printf '#include <stdarg.h>\n#include <stddef.h>\n#include <setjmp.h>\n#include <stdint.h>\n#include <%s>\n' "$h" |
            "$cc" -E -x c - >/dev/null 2>&1; then
            echo "azul: cannot find <$h>, and this system has no apt-get/dpkg." >&2
            echo "azul: install a C11 compiler, make, curl, and the development files of" >&2
            echo "      utf8proc, stb, cJSON, libedit, libmicrohttpd and cmocka (on Debian: $packages)" >&2
            exit 1
        fi
    done
    exit 0
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
