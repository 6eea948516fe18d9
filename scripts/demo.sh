#!/usr/bin/env bash
# Set up if needed, then tell the whole story on the synthetic demo data in the embedded default stores:
# train, two approvals signed with DEMO-ONLY keys, promotion, a landed batch scored, its drift report.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
cd "$root"
gxp demo "$@"
