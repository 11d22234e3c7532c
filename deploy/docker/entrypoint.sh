#!/bin/sh
# The image's entrypoint: `kgo "$@"` (e.g. `serve wallet`). Compose's and Kubernetes' secrets
# arrive as files; each file in /run/secrets named like an environment variable
# (WALLET_PII_KEY, WALLET_DATABASE_URL...) becomes that variable, unless it is set already.
# (KGO_SECRETS_DIR points elsewhere, for the tests.)
set -eu
for file in "${KGO_SECRETS_DIR:-/run/secrets}"/*; do
  [ -f "$file" ] || continue
  name=$(basename "$file")
  case "$name" in *[!A-Z0-9_]* | [0-9]*) continue ;; esac
  if [ -z "$(printenv "$name" || true)" ]; then
    export "$name=$(cat "$file")"
  fi
done
exec kgo "$@"
