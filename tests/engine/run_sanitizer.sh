#!/usr/bin/env bash
# Build the engine with AddressSanitizer + UndefinedBehaviorSanitizer (CMake preset "asan") and
# run the engine tests against that build. Exits non-zero on any test failure or sanitizer report.
# Then the malformed-input cases that reach C++ (issue 17): the corpus through Session, the seed API
# and the CLI on the C++ engine, the read-only-weights run, non-finite logits and the seed API's
# refusals (23 tests, about 10 s under the sanitizers on 2 cores); then the bindings fuzzer
# (tests/fuzz/fuzz_engine.py) for FUZZ_SECONDS (default 20; 0 skips it).
# Usage: bash tests/engine/run_sanitizer.sh [extra pytest args]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
py="${PYTHON:-python}"

cmake --preset asan -DPython_EXECUTABLE="$(command -v "$py")" \
  -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" >/dev/null
cmake --build build/asan -j"$(nproc)" >/dev/null
so="$(ls build/asan/csrc/_engine*.so)"

# A copy of the installed package (llada_studio.core) whose _engine is the sanitizer build, first
# on the path.
overlay="$(mktemp -d)"
trap 'rm -rf "$overlay"' EXIT
mkdir -p "$overlay/llada_studio"
cp packaging/llada_studio_package.py "$overlay/llada_studio/__init__.py"
cp -r core "$overlay/llada_studio/core"
rm -f "$overlay"/llada_studio/core/_engine*.so "$overlay"/llada_studio/core/_engine*.pyd
cp "$so" "$overlay/llada_studio/core/"
# An editable install (pip install -e .) puts an import hook first that redirects llada_studio.*
# to the release build; drop it in the sanitizer run (sitecustomize runs after .pth files).
cat >"$overlay/sitecustomize.py" <<'PY'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "Redirect" not in type(f).__name__]
PY

# The ASan runtime must be loaded before anything else, and libstdc++ with it so that ASan's
# __cxa_throw interceptor finds the real one (python is not linked against libstdc++).
# Python itself leaks by design: no leak check.
preload="$(${CXX:-g++} -print-file-name=libasan.so) $(${CXX:-g++} -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$overlay"  # not the repo root: the current folder comes first on sys.path
PYTHONPATH="$overlay${PYTHONPATH:+:$PYTHONPATH}" LD_PRELOAD="$preload" \
  "$py" -c "import llada_studio.core._engine as e, sys; assert '$overlay' in e.__file__, e.__file__"
PYTHONPATH="$overlay${PYTHONPATH:+:$PYTHONPATH}" LD_PRELOAD="$preload" \
  "$py" -m pytest -q -p no:cacheprovider -p no:qt --rootdir="$root" "$root/tests/engine" "$@"
# The malformed-input cases that reach the C++ engine (the torch and loader-only paths are not
# selected: they never call into the sanitized build).
PYTHONPATH="$overlay${PYTHONPATH:+:$PYTHONPATH}" LD_PRELOAD="$preload" \
  "$py" -m pytest -q -p no:cacheprovider -p no:qt --rootdir="$root" "$root/tests/core/malformed" \
  "$root/tests/core/test_malformed_nonfinite.py" "$root/tests/core/test_malformed_seed_api.py" \
  -k "(cpp or seed) and not torch" "$@"
# The bindings fuzzer on the sanitized build: a crash or a sanitizer report ends the run non-zero
# (the input being run is named in tests/fuzz/findings/current.txt).
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  PYTHONPATH="$overlay${PYTHONPATH:+:$PYTHONPATH}" LD_PRELOAD="$preload" \
    "$py" "$root/tests/fuzz/fuzz_engine.py" --seconds "${FUZZ_SECONDS:-20}" --seed 17 --timeout 60
fi
