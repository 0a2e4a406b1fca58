#!/usr/bin/env bash
# Creates (once) the project's virtual environment in a cache folder keyed by the hash of
# the requirement files, installs the project into it (editable), and prints the venv path.
# A clean clone reuses the cached venv: only a changed requirement file rebuilds it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${GENRE_CACHE:-$HOME/.cache/genre-stream}
key=$(cat "$root/requirements.txt" "$root/requirements-nodeps.txt" | sha256sum | cut -c1-16)
venv="$cache/venv-$key"
py=${PYTHON:-python3}
if [ ! -f "$venv/.complete" ]; then
  echo "bootstrap: creating $venv (first run downloads torch, faiss and models: several GB)" >&2
  rm -rf "$venv"; mkdir -p "$cache"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip uv >&2
  "$venv/bin/uv" pip install --python "$venv/bin/python" -r "$root/requirements.txt" >&2
  "$venv/bin/uv" pip install --python "$venv/bin/python" --no-deps -r "$root/requirements-nodeps.txt" >&2
  touch "$venv/.complete"
fi
# The project itself is installed editable into whichever clone runs this (cheap).
if ! "$venv/bin/python" -P - "$root" <<'PY' >/dev/null 2>&1
import sys, pathlib, streams
sys.exit(0 if pathlib.Path(streams.__file__).resolve().is_relative_to(pathlib.Path(sys.argv[1]).resolve()) else 1)
PY
then
  "$venv/bin/uv" pip install --python "$venv/bin/python" --no-deps -e "$root" >&2
fi
echo "$venv"
