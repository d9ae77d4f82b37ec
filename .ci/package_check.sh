#!/usr/bin/env bash
# What a user installs: build the sdist and, from it, the wheel (`python -m build`), install the
# wheel into a clean virtualenv outside the checkout, and run .ci/smoke_test.py there: import,
# a sandbox lookup, a plot saved as PNG. A file missing from the wheel fails here.
# Usage: .ci/package_check.sh [PYTHON]   (default: .venv/bin/python, which has `build`)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-$root/.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! "$python" -m build --outdir "$work/dist" "$root" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "package-check: python -m build failed" >&2
  exit 1
fi
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
"$python" - "$wheel" "$sdist" <<'PY'
import sys, tarfile, zipfile
wheel, sdist = sys.argv[1:]
shipped = {"wheel": set(zipfile.ZipFile(wheel).namelist()),
           "sdist": {n.split("/", 1)[-1] for n in tarfile.open(sdist).getnames()}}
for kind, names in shipped.items():
    for needed in ("mobilestatus_pandas/py.typed", "mobilestatus_pandas/sandbox/server.py"):
        if needed not in names:
            sys.exit(f"package-check: {needed} is not in the {kind}")
PY

# A clean environment: no access to the checkout's .venv, nothing on PYTHONPATH, run from a
# folder outside the checkout so that `import mobilestatus_pandas` can only find the wheel.
"$python" -c "import sys; sys.exit(sys.prefix == sys.base_prefix)" \
  && base=$("$python" -c "import sys; print(sys._base_executable)") || base="$python"
"$base" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
mkdir "$work/home" "$work/run"
cp "$root/.ci/smoke_test.py" "$work/run/"
(cd "$work/run" && env -u PYTHONPATH -u MOBILESTATUS_CACHE -u MOBILESTATUS_ENDPOINT \
  HOME="$work/home" MPLBACKEND=Agg "$work/venv/bin/python" smoke_test.py)
echo "package-check: $(basename "$wheel") and $(basename "$sdist") built; the wheel works in a clean venv"
