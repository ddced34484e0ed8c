#!/usr/bin/env bash
# Build a single chapter strictly (-n, every warning fatal), as the full book build would, into a private
# output folder. Links to chapters outside this one-page build ("unknown document") are the only warnings
# tolerated: the full build checks those.
#   scripts/check_chapter.sh book/variance_map.md
set -euo pipefail
cd "$(dirname "$0")/.."
chapter=${1:?usage: scripts/check_chapter.sh book/NAME.md}
name=$(basename "${chapter%.md}")
out=${CHECK_OUT:-/tmp/nsp-check}/$name
mkdir -p "$out"
printf "format: jb-book\nroot: %s\nchapters:\n  - file: book/bibliography\n" "${chapter%.md}" > "$out/_toc.yml"
set +e
jupyter-book build -n --keep-going --toc "$out/_toc.yml" --path-output "$out" . 2>&1 | tee "$out/build.log"
status=${PIPESTATUS[0]}
set -e
warnings=$(grep -E "WARNING|ERROR" "$out/build.log" | grep -v "unknown document" | grep -v "IPKernelApp" || true)
if [ "$status" -ne 0 ] || [ -n "$warnings" ]; then
  printf '\nFAILED (exit %s):\n%s\n' "$status" "$warnings"
  exit 1
fi
echo "built without warnings: $out/_build/html/$(dirname "$chapter")/$name.html"
