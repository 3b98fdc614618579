#!/bin/sh
# Writes a C file that defines `const char NAME[]` holding FILE's text, so
# that the pages' JavaScript, CSS and HTML live in files of their own (read,
# edited and checked as what they are) yet ship inside bin/azul.
#
#   tools/embed.sh FILE NAME > OUT.c        (the Makefile's rule for build/embedded/)
#
# Backslashes, quotes and question marks are escaped (C11 would read "??(" in
# a string as a trigraph); each line becomes one string literal.
set -eu
file=$1
name=$2
printf '// Made by tools/embed.sh from %s: edit that file, not this one.\n' "$file"
printf 'const char %s[] =\n' "$name"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/    "/' -e 's/$/\\n"/' "$file"
printf '    "";\n'
