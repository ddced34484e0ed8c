#!/usr/bin/env bash
# Build a single chapter strictly (-W -n), as the full book build would, into a private output folder.
#   scripts/check_chapter.sh book/variance_map.md
# Uses the book's _config.yml, a one-page table of contents, and its own execution cache.
set -euo pipefail
cd "$(dirname "$0")/.."
chapter=${1:?usage: scripts/check_chapter.sh book/NAME.md}
name=$(basename "${chapter%.md}")
out=${CHECK_OUT:-/tmp/nsp-check}/$name
mkdir -p "$out"
printf "format: jb-book\nroot: %s\nchapters:\n  - file: book/bibliography\n" "${chapter%.md}" > "$out/_toc.yml"
jupyter-book build -W -n --keep-going --toc "$out/_toc.yml" --path-output "$out" . 
echo "built: $out/_build/html/$(dirname "$chapter")/$name.html"
