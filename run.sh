#!/usr/bin/env bash
# Remix Archivist: set up and run.
#   ./run.sh demo   set up, build the bundled sample archive and serve the dashboard on http://127.0.0.1:8050
#   ./run.sh test   set up (with Chromium for the browser tests) and run the whole test suite
#   ./run.sh bench  set up and run the benchmark suite (1,000,000 posts; slow)
#   ./run.sh setup  only set up (.venv with the package and its test extras)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

native_deps() {  # what the native ingest engine (archive/_ingest_native.cpp) builds with
  apt_install build-essential libsimdjson-dev libssl-dev
  # Python's headers: a Debian python3 has them in python3-dev (a python built from source has its own)
  local inc
  inc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null || true)
  [ -n "$inc" ] && [ -f "$inc/Python.h" ] || apt_install python3-dev
}

apt_install() {  # apt_install PACKAGE... : install the Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
}

setup() {  # setup EXTRAS : a virtual environment with the package installed (skipped when nothing changed)
  local extras=$1
  if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 1
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PY" -m venv "$VENV"; }
  fi
  # the stamp changes with what the install builds: the package's metadata and the native ingest engine
  local stamp="$VENV/.installed-$extras-$(cat pyproject.toml setup.py archive/_ingest_native.cpp | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "installing Python packages ($extras) into $VENV ..." >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; } >&2
    # setuptools' notice boxes about editable installs (between "!!" lines) are noise for a user
    "$VENV/bin/python" -m pip install -q -e ".[$extras]" 2>&1 \
      | awk '/^ *!!$/ {box = !box; next} !box' \
      | { grep -v -e "^WARNING: Location" -e "BuildBackendWarning" -e "with strategy, WheelFile" || true; } >&2
    touch "$stamp"
  fi
}

case "${1:-}" in
  demo)
    shift
    apt_install fonts-noto-cjk build-essential  # CJK prompts in the sample; pdqhash builds from source
    native_deps
    setup base
    exec "$VENV/bin/archivist" demo "$@"
    ;;
  test)
    shift
    apt_install chromium chromium-driver poppler-utils fonts-noto-cjk libxml2-utils build-essential  # xmllint: exports checked against the official XSDs; build-essential: pdqhash builds from source
    command -v java >/dev/null || apt_install openjdk-17-jre-headless  # Spark local mode
    native_deps
    setup test,spark
    # every core (REMIX_TEST_WORKERS=1 for one process); Spark and Chromium tests each keep to one worker
    exec "$VENV/bin/python" -m pytest -n "${REMIX_TEST_WORKERS:-auto}" --maxprocesses 4 --dist loadgroup "$@"
    ;;
  bench)
    shift
    native_deps
    setup test,spark
    exec "$VENV/bin/python" -m pytest tests/benchmarks -m benchmark -s "$@"
    ;;
  setup)
    native_deps
    setup test,spark
    ;;
  *)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
