#!/usr/bin/env bash
# Creates .venv with the exact versions CI tested (constraints.txt) and installs the project into it.
# Quick when nothing changed: it reinstalls only when setup.py or constraints.txt differ from the last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "gxp-assets needs Python 3.11, found " + sys.version' 
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
wanted="$(cat setup.py constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing gxp-assets and its pinned dependencies into .venv (a few minutes the first time)"
  # pip's notes about unreachable mirror folders are noise here; errors still show and still fail the script.
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]" 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$wanted" > "$stamp"
fi
