#!/bin/sh
# Checks that every #include "folder/header.h" in the source looks down the
# layers: a file may include headers of its own folder and of the folders the
# table below allows, nothing else (no upward include, no include between
# folders on one level, no folder the table does not know).  Used by
# `make layers`, which `make test` runs first.
#
#   tools/check_layers.sh [ROOT]       ROOT defaults to the repository root
#
# Prints one line per bad include and exits 1, or one OK line and exits 0.
# tests/ and tools/ are outside the check; <system> headers and headers
# without a folder ("x.h", found beside the including file) are not checked.
set -eu

# The layers, top to bottom: each folder, then the folders it may include
# besides itself.  This table is the only place the layering is written down.
LAYERS='
    cli:        core  tokenizer  eval  model  infer  train  inspect  serve
    serve:      core  tokenizer  eval  model  infer  train  inspect
    train:      core  tokenizer  eval  model  infer
    inspect:    core  tokenizer  eval  model  infer
    infer:      core  tokenizer        model
    model:      core
    tokenizer:  core
    eval:       core
    core:
'

root=${1:-$(dirname "$0")/..}
if [ ! -d "$root" ]; then
    echo "check_layers: $root is not a directory" >&2
    exit 2
fi
cd "$root"

folders=$(echo "$LAYERS" | sed -n 's/^ *\([a-z_]*\):.*/\1/p')
present=""
for f in $folders; do
    if [ -d "$f" ]; then present="$present $f"; fi
done
if [ -z "$present" ]; then
    echo "check_layers: none of the layer folders is in $root" >&2
    exit 2
fi

# shellcheck disable=SC2086  # $present is a list of plain folder names
find $present -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort |
LAYERS=$LAYERS awk '
BEGIN {
    n = split(ENVIRON["LAYERS"], rows, "\n")
    for (i = 1; i <= n; i++) {
        if (rows[i] !~ /:/) continue
        colon = index(rows[i], ":")
        folder = substr(rows[i], 1, colon - 1)
        gsub(/[ \t]/, "", folder)
        known[folder] = 1
        allowed[folder, folder] = 1
        list = ""
        m = split(substr(rows[i], colon + 1), deps, " ")
        for (j = 1; j <= m; j++) {
            allowed[folder, deps[j]] = 1
            list = list deps[j] "/, "
        }
        may[folder] = folder "/ may include only " list folder "/"
    }
}
{
    file = $0
    files++
    folder = substr(file, 1, index(file, "/") - 1)
    line = 0
    while ((getline text < file) > 0) {
        line++
        if (text !~ /^[ \t]*#[ \t]*include[ \t]*"[^"]*\//) continue
        header = text
        sub(/^[ \t]*#[ \t]*include[ \t]*"/, "", header)
        sub(/".*/, "", header)
        target = substr(header, 1, index(header, "/") - 1)
        if ((folder, target) in allowed) continue
        unknown = (target in known) ? "" : " (" target "/ is not a layer)"
        printf "%s:%d: includes %s%s: %s\n", file, line, header, unknown, may[folder]
        bad++
    }
    close(file)
}
END {
    if (bad) {
        printf "check_layers: %d include%s break%s the layers (%d file%s checked)\n",
            bad, bad == 1 ? "" : "s", bad == 1 ? "s" : "", files, files == 1 ? "" : "s"
        exit 1
    }
    printf "check_layers: OK, %d file%s checked; every include stays in its folder or looks down\n",
        files, files == 1 ? "" : "s"
}'
