#!/bin/sh
# Reports every C function longer than 100 lines, outside tests/.  Used by
# `make function-length`, which `make test` runs first (as it runs
# `make layers`).
#
#   tools/check_function_length.sh [ROOT]    ROOT defaults to the repository root
#
# Prints `file:line: name() is N lines (limit 100)` for each one and exits 1,
# or one OK line and exits 0.  The line is where the definition starts; N
# counts from the line with the opening brace to the closing `}`, both
# included.  It reads the layout this codebase uses rather than parsing C: a
# definition starts at column 0 (its parameters may run on over indented
# lines), its first line with a `(` before any `=` ends with `{`, and its
# body ends with a line that is exactly `}`.
set -eu

LIMIT=100

root=${1:-$(dirname "$0")/..}
if [ ! -d "$root" ]; then
    echo "check_function_length: $root is not a directory" >&2
    exit 2
fi
cd "$root"

find . \( -path ./tests -o -path ./.git -o -path ./build -o -path ./bin \) -prune -o \
    -type f \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | LC_ALL=C sort |
awk -v limit="$LIMIT" '
# The name of the function whose definition text is s, or "" when s is not a
# function definition (a struct, an initialiser, a prototype).
function function_name(s,    paren, head) {
    gsub(/__attribute__[ \t]*\(\([^()]*(\([^()]*\)[^()]*)*\)\)/, "", s)
    paren = index(s, "(")
    if (paren == 0) return ""
    head = substr(s, 1, paren - 1)
    if (head ~ /=/) return ""
    sub(/[ \t]+$/, "", head)
    if (!match(head, /[A-Za-z_][A-Za-z_0-9]*$/)) return ""
    return substr(head, RSTART, RLENGTH)
}
{
    file = $0
    files++
    line = 0
    pending = ""     # the definition text read so far, from its column-0 line
    name = ""        # the function whose body we are in
    while ((getline text < file) > 0) {
        line++
        if (name != "") {
            if (text == "}") {
                length_ = line - brace + 1
                if (length_ > limit) {
                    printf "%s:%d: %s() is %d lines (limit %d)\n", file, start, name, length_, limit
                    long++
                }
                name = ""
            }
            continue
        }
        if (pending == "") {
            if (text !~ /^[A-Za-z_]/) continue  # indented, blank, comment, #, `}`
            start = line
        }
        pending = pending " " text
        if (text ~ /;/ && text !~ /\{[ \t]*$/) { pending = ""; continue }
        if (text !~ /\{[ \t]*(\/\/.*)?$/) continue
        name = function_name(pending)
        brace = line
        pending = ""
    }
    close(file)
}
END {
    if (long) {
        printf "check_function_length: %d function%s longer than %d lines (%d file%s checked)\n",
            long, long == 1 ? "" : "s", limit, files, files == 1 ? "" : "s"
        exit 1
    }
    printf "check_function_length: OK, no function longer than %d lines in %d file%s\n",
        limit, files, files == 1 ? "" : "s"
}'
