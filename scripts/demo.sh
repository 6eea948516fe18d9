#!/usr/bin/env bash
# Set up if needed, then run the main job on the bundled synthetic demo data in the embedded default stores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
# shellcheck disable=SC1091
. "$root/scripts/env.sh"
cd "$root"
gxp run "$@"
