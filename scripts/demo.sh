#!/usr/bin/env bash
# The first command of the README: the whole service on this machine, nothing else needed.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/iluo-sync demo "$@"
