#!/usr/bin/env bash
# The PDF edition: the book typeset by XeLaTeX from the same sources as the site, checked, and copied into the site
# (_build/html/noisy-signal-propagation.pdf, the "Book (PDF)" entry of every page's download menu).
#   scripts/build_pdf.sh        # after the README's command 1 (.ci/run and the GitHub workflow run it there)
# The chapters are not executed again: their outputs come from the HTML build's execution cache
# (_build/.jupyter_cache); where that cache is empty, they execute here, once, and the HTML build reuses them.
# Needs the TeX Live and poppler packages of .ci/apt-packages.txt. NSP_PDF_CHECK=0 skips the check (tests/test_pdf.py).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
name=noisy-signal-propagation
for tool in xelatex latexmk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "scripts/build_pdf.sh: $tool not found: install the TeX Live packages of .ci/apt-packages.txt" >&2; exit 1; }
done

# The printed book is the book without its API reference (over a hundred pages; it stays on the site): the table
# of contents is _toc.yml less the part that holds book/api/index.
toc=_build/pdf_toc.yml
mkdir -p _build
python - "$toc" <<'PY'
import sys

import yaml

toc = yaml.safe_load(open("_toc.yml", encoding="utf-8"))
toc["parts"] = [part for part in toc["parts"]
                if not any(chapter.get("file") == "book/api/index" for chapter in part["chapters"])]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("# made by scripts/build_pdf.sh from _toc.yml: the PDF edition's table of contents\n")
    yaml.safe_dump(toc, f, sort_keys=False)
PY

# -W -n as for the site: a LaTeX-only warning (an output the PDF cannot show, a reference it cannot resolve) fails it
jupyter-book build --builder pdflatex -W -n --keep-going --toc "$toc" . </dev/null
pdf=_build/latex/$name.pdf
test -s "$pdf"
if [ -d _build/html ]; then
  cp "$pdf" "_build/html/$name.pdf"
fi
pages=$(pdfinfo "$pdf" 2>/dev/null | awk '/^Pages:/ {print $2}' || true)
echo "::: PDF edition: $pdf, ${pages:-?} pages, $(du -h "$pdf" | cut -f1), built in $(( $(date +%s) - start )) s"

if [ "${NSP_PDF_CHECK:-1}" != "0" ]; then
  python -m pytest -q -p no:cacheprovider tests/test_pdf.py
fi
