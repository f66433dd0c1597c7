#!/usr/bin/env bash
# The slower CI step for the installers (issue 6): build the bundle, the .tar.gz and the .deb
# with packaging/build.py, then run --self-test from each of them and check the .deb's layout.
# Call it from .ci/run after the main tests: `bash packaging/ci_bundle_check.sh` (any arguments
# are passed on to build.py, e.g. --desktop-file/--icon-dir while those resources are missing).
# Runtime on 2 cores: about 3-4 minutes (engine compile ~45 s, PyInstaller ~60 s, archives ~45 s).
# Everything goes to packaging/build/ (ignored by git) and a temporary folder.
# Ends with a plain "packaging: N passed, N failed" line; exits non-zero when a check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
py=${PYTHON:-python3}

# PyInstaller, as pinned by the `package` extra in pyproject.toml.
if ! "$py" -c "import PyInstaller" 2>/dev/null; then
  "$py" -m pip install -q $("$py" -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['package']))")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # check NAME COMMAND...: run, count, never stop the script
  local name=$1; shift
  if "$@" >"$tmp/log" 2>&1; then
    passed=$((passed + 1)); echo "PASS $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/    /' "$tmp/log" | tail -40
  fi
}

# Before the trained model lands in resources/models/, the self-tests run on a random tiny
# checkpoint instead (said loudly, so nobody mistakes it for the real thing).
build_args=(--deb-compression gzip)
model_args=()
if ! compgen -G "resources/models/*/config.json" >/dev/null; then
  echo "NOTE: no bundled model in resources/models/: packaging without it; self-tests use a random tiny checkpoint"
  "$py" -c "from llada_studio.core.checkpoint_writer import random_checkpoint; random_checkpoint('$tmp/tinymodel')"
  build_args+=(--allow-no-model --self-test-model "$tmp/tinymodel")
  model_args=(--model "$tmp/tinymodel")
fi

t0=$SECONDS
check "build.py (engine, bundle, tar.gz, .deb, bundle --self-test)" "$py" packaging/build.py "${build_args[@]}" "$@"
echo "  build took $((SECONDS - t0)) s"
out=packaging/build
ver=$("$py" -c "import re; print(re.search(r'^version\s*=\s*\"([^\"]+)\"', open('pyproject.toml').read(), re.M).group(1))")
deb=$(ls "$out"/llada-studio_"$ver"_*.deb 2>/dev/null | head -1 || true)
tgz=$(ls "$out"/llada-studio-"$ver"-linux-*.tar.gz 2>/dev/null | head -1 || true)

size_ok() {  # the unpacked bundle within the 300 MB target
  local kb; kb=$(du -sk "$out/dist/llada-studio" | cut -f1) || return 1
  echo "bundle: $((kb / 1024)) MiB"; [ "$kb" -le $((300 * 1000 * 1000 / 1024)) ]
}
check "bundle size <= 300 MB" size_ok

tgz_selftest() {
  [ -n "$tgz" ] || { echo "no .tar.gz"; return 1; }
  mkdir -p "$tmp/tgz" && tar -xzf "$tgz" -C "$tmp/tgz" || return 1
  "$tmp/tgz/llada-studio/llada-studio" --self-test "${model_args[@]}"
}
check ".tar.gz unpacks and --self-test passes" tgz_selftest

deb_layout() {  # (set -e does not act inside a function called from `if`: each step says || return)
  [ -n "$deb" ] || { echo "no .deb"; return 1; }
  [ "$(dpkg-deb --field "$deb" Package)" = llada-studio ] || { echo "no control file"; return 1; }
  dpkg-deb --contents "$deb" >"$tmp/contents" || return 1
  local want
  for want in '\./usr/bin/llada-studio -> /opt/llada-studio/llada-studio$' '\./opt/llada-studio/llada-studio$' \
      '\./usr/share/applications/llada-studio\.desktop$' '\./usr/share/icons/hicolor/[^/]+/apps/llada-studio\.(png|svg)$'; do
    grep -Eq "$want" "$tmp/contents" || { echo "the .deb has no entry matching $want"; return 1; }
  done
  if grep -E "/(lib)?torch" "$tmp/contents"; then echo "torch in the .deb"; return 1; fi
  dpkg-deb -x "$deb" "$tmp/deb" || return 1
  local key
  for key in Exec=llada-studio Icon=llada-studio Categories= Type=Application; do
    grep -q "^$key" "$tmp/deb/usr/share/applications/llada-studio.desktop" || { echo "desktop entry lacks $key"; return 1; }
  done
  if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$tmp/deb/usr/share/applications/llada-studio.desktop" || return 1
  fi
}
check ".deb layout (/opt, /usr/bin symlink, desktop entry, hicolor icon, no torch)" deb_layout

deb_selftest() {
  # The installed layout without installing: a symlink to the executable, as /usr/bin has.
  [ -x "$tmp/deb/opt/llada-studio/llada-studio" ] || { echo "no executable in the .deb"; return 1; }
  ln -s "$tmp/deb/opt/llada-studio/llada-studio" "$tmp/llada-studio-link"
  "$tmp/llada-studio-link" --self-test "${model_args[@]}"
}
check ".deb's executable, started through a symlink, --self-test passes" deb_selftest

cli_check() {  # the command line from the bundle (argv other than --self-test goes to core.cli)
  "$out/dist/llada-studio/llada-studio" generate "Once" --steps 4 --gen-length 8 --block-length 8 --json "${model_args[@]}" >"$tmp/cli.json" || return 1
  "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d.get('text') is not None or d.get('ids'), d" "$tmp/cli.json"
}
check "bundle command line: generate --json" cli_check

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
