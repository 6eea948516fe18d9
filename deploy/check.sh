#!/usr/bin/env bash
# Static checks of the AWS estate: cfn-lint on every CloudFormation template, checkov's CloudFormation and Dockerfile
# scans. Exit 0 only when neither finds anything; each deliberate exception is justified where it is made (a
# `checkov:skip=ID:reason` comment in the template's Metadata, cfn-lint's `Metadata: cfn-lint: config: ignore_checks`).
# checkov pins its own dependencies (they conflict with the project's), so both tools live in their own venv,
# deploy/.venv-check (git-ignored), made here once and reused while the pinned versions below are installed.
# --skip-download: checkov works offline (no guideline links fetched from its vendor's service).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
venv="$here/.venv-check"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
wanted="cfn-lint==$CFN_LINT_VERSION checkov==$CHECKOV_VERSION"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$wanted" ]; then
  echo "check.sh: installing $wanted into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --progress-bar off $wanted 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$wanted" > "$venv/.installed"
fi
templates=(*.yaml)
templates=("${templates[@]/dagster.yaml}")   # the Dagster instance config is not a template
read -r -a templates <<< "${templates[*]}"
status=0
echo "check.sh: cfn-lint $CFN_LINT_VERSION on ${templates[*]}"
"$venv/bin/cfn-lint" "${templates[@]}" || status=1
# checkov exits non-zero on a failed check; a file it could not parse passes nothing, which counts as a finding too.
scan() {
  local framework=$1 file=$2 out
  echo "check.sh: checkov $CHECKOV_VERSION ($framework) on $file"
  out="$("$venv/bin/checkov" --quiet --compact --skip-download --framework "$framework" --file "$file" 2>&1)" || status=1
  echo "$out"
  if ! grep -Eq "Passed checks: [1-9]" <<< "$out"; then
    echo "check.sh: checkov passed no check on $file (not parsed?)"
    status=1
  fi
}
for template in "${templates[@]}"; do
  scan cloudformation "$template"
done
scan dockerfile Dockerfile
if [ "$status" = 0 ]; then echo "check.sh: no findings"; else echo "check.sh: FINDINGS (see above)"; fi
exit "$status"
