#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian/Ubuntu machine, idempotently:
#   system packages (PostgreSQL server; for the tests: docker-compose to validate the compose
#   file, chromium to look at the Mage UI)
#   uv (from PyPI) and the project venv at .venv from requirements-dev.txt
#   the BigQuery emulator's venv at .venv-bigquery (Python >= 3.13, which it needs).
# Usage: scripts/stack/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/../.."

want_test=${1:-}
missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
if [ "$want_test" = --test ]; then
  command -v docker-compose >/dev/null || missing+=(docker-compose)   # validates docker-compose.yml
  command -v chromium >/dev/null || missing+=(chromium)               # renders the Mage UI in a test
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[setup] please install: ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
export PATH="$HOME/.local/bin:$PATH"   # where `pip install --user uv` puts it
if ! command -v uv >/dev/null; then
  echo "[setup] installing uv"
  "$PYTHON" -m pip install --quiet --user uv 2>/dev/null || "$PYTHON" -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi

stamp=.venv/.requirements.stamp
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ]; then
  [ -x .venv/bin/python ] || uv venv --quiet --python "$PYTHON" .venv
  echo "[setup] installing requirements into .venv (uv)"
  VIRTUAL_ENV=.venv uv pip install --quiet -r requirements-dev.txt
  touch "$stamp"
fi

# The BigQuery emulator needs Python 3.13: on PATH, from pyenv, or installed by uv.
find_python313() {
  local c
  for c in "${PYTHON313:-}" "$(command -v python3.13 || true)" \
           "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.13*/bin/python3.13; do
    [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys' 2>/dev/null && { echo "$c"; return 0; }
  done
  uv python find 3.13 2>/dev/null && return 0
  uv python install --quiet 3.13 >/dev/null 2>&1 && uv python find 3.13 2>/dev/null
}
bq=scripts/stack/bigquery_emulator
bq_stamp=.venv-bigquery/.requirements.stamp
if [ ! -f "$bq_stamp" ] || [ $bq/requirements.txt -nt "$bq_stamp" ] || [ $bq/overrides.txt -nt "$bq_stamp" ]; then
  py313=$(find_python313) || {
    echo "[setup] the BigQuery emulator needs Python 3.13: install it (pyenv install 3.13, or" \
         "apt-get install python3.13) or point PYTHON313 at one" >&2
    exit 1
  }
  echo "[setup] installing the BigQuery emulator into .venv-bigquery ($py313)"
  [ -x .venv-bigquery/bin/python ] || uv venv --quiet --python "$py313" .venv-bigquery
  VIRTUAL_ENV=.venv-bigquery uv pip install --quiet -r $bq/requirements.txt --override $bq/overrides.txt
  # DuckDB looks for extensions in ~/.duckdb/extensions: give the emulator a HOME that has them.
  mkdir -p .venv-bigquery/home/.duckdb
  ln -sfn "$(.venv-bigquery/bin/python -c 'import duckdb_ext, os; print(os.path.realpath(os.path.join(list(duckdb_ext.__path__)[0], "extensions")))')" \
    .venv-bigquery/home/.duckdb/extensions
  touch "$bq_stamp"
fi
