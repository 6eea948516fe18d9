# Sourced by the other scripts (and by you, for `dagster dev`): the project's virtual environment and the two
# homes of DESIGN.md. Both default to folders inside the project and survive restarts.
_gxp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GXP_HOME="${GXP_HOME:-$_gxp_root/.gxp}"
export DAGSTER_HOME="${DAGSTER_HOME:-$GXP_HOME/dagster_home}"
mkdir -p "$GXP_HOME" "$DAGSTER_HOME"
cp "$_gxp_root/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
if [ -f "$_gxp_root/.venv/bin/activate" ]; then
  # shellcheck disable=SC1091
  . "$_gxp_root/.venv/bin/activate"
fi
