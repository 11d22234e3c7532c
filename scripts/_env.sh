# Sourced by scripts/*: puts uv (pinned) and the project's locked environment in place.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION=0.13.8
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -m uv --version 2>/dev/null | grep -q "uv $UV_VERSION"; then
  echo "installing uv $UV_VERSION with $PYTHON -m pip" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
uv() { "$PYTHON" -m uv "$@"; }
export UV_PYTHON="$PYTHON"
uv sync --frozen --quiet
