# Sourced by the other scripts: a project virtualenv with the project installed.
# WMS_SKIP_INSTALL=1 uses .venv as it is (tests of the scripts, offline machines).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extras=${WMS_EXTRAS:-}
stamp=.venv/.installed${extras:+-$extras}
fresh() { [ -f "$1" ] && [ ! pyproject.toml -nt "$1" ]; }
# The dev install includes the plain one.
if [ "${WMS_SKIP_INSTALL:-}" != 1 ] && ! fresh "$stamp" && ! { [ -z "$extras" ] && fresh .venv/.installed-dev; }; then
  echo "Installing dependencies into .venv ..."
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

compile_translations() {
  if command -v msgfmt >/dev/null 2>&1; then
    python manage.py compilemessages --ignore=.venv -v0
  else
    echo "gettext's msgfmt is not installed: using the committed .mo files."
  fi
}
