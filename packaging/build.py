"""Build LLaDA Studio's installers: the PyInstaller bundle, a .tar.gz (a .zip on Windows) and, on
Linux with dpkg-deb, a .deb.

    python -m pip install -e ".[package]"     # or: pip install "pyinstaller>=6.5"
    python packaging/build.py                 # engine -> bundle -> archive -> .deb -> self-test

Steps:
  1. compile the C++ engine (CMake, the same CMakeLists as `pip install .`) into
     packaging/build/engine/llada_studio/core/_engine*; portable by default (no -march=native, so the bundle
     runs on any x86-64 CPU; OpenBLAS picks its kernels at run time). --native for this CPU only.
  2. PyInstaller with packaging/llada-studio.spec -> packaging/build/dist/llada-studio/
  3. packaging/build/llada-studio-<version>-<os>-<arch>.tar.gz (.zip on Windows)
  4. Linux: packaging/build/llada-studio_<version>_<arch>.deb: /opt/llada-studio, the
     /usr/bin/llada-studio symlink, the desktop entry and hicolor icons from resources/
  5. runs the bundle's --self-test (skip with --no-self-test)

Everything it writes is under packaging/build/ (ignored by git). Needs a C++17 compiler, CMake
3.18+, pybind11 and PyInstaller in this Python; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
RESOURCES = ROOT / "resources"
NAME = "llada-studio"
DISPLAY_NAME = "LLaDA Studio"
DESKTOP_FILE = RESOURCES / f"{NAME}.desktop"
ICONS = RESOURCES / "icons"
IS_WIN = sys.platform.startswith("win")
IS_MAC = sys.platform == "darwin"
IS_LINUX = sys.platform.startswith("linux")

# What the .deb needs from the system: the libraries Qt's xcb/wayland platform plugins and
# OpenGL/EGL load, which PyInstaller does not bundle (the graphics stack must be the system's).
DEB_DEPENDS = [
    # libc6 (>= the build machine's glibc) is added by make_deb: PyInstaller bundles link against it
    "libegl1",
    "libgl1",
    "libfontconfig1",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-shape0",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-image0",
    "libxcb-xkb1",
    "libdbus-1-3",
    "libwayland-client0",
    "libwayland-cursor0",
    "libwayland-egl1",
]
# Shared libraries the bundle loads from the system -> the Debian package that has them; the
# build warns when ldd finds one missing that no entry here covers.
SONAME_PACKAGES = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libgl1",
    "libGLdispatch.so.0": "libgl1",
    "libOpenGL.so.0": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}


class BuildError(SystemExit):
    def __init__(self, message: str) -> None:
        super().__init__(f"build.py: error: {message}")


def log(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def run(cmd: list[str], **kw) -> None:  # noqa: ANN003
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    if not m:
        raise BuildError('no version = "..." in pyproject.toml')
    return m.group(1)


def arch() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m) if not IS_MAC else m


def os_tag() -> str:
    return "windows" if IS_WIN else "macos" if IS_MAC else "linux" if IS_LINUX else sys.platform


def dir_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# --- 1. the engine ----------------------------------------------------------------------------
def build_engine(out: Path, native: bool, jobs: int) -> Path:
    try:
        import pybind11
    except ImportError as exc:
        raise BuildError("pybind11 is not installed in this Python (pip install pybind11)") from exc
    if shutil.which("cmake") is None:
        raise BuildError("cmake is not on PATH (CMake 3.18+ is needed to compile the engine)")
    build_dir = out / "engine-cmake"
    prefix = out / "engine"
    configure = [
        "cmake",
        "-S",
        ROOT,
        "-B",
        build_dir,
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DPython_EXECUTABLE={sys.executable}",
        f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
        f"-DLLADA_NATIVE={'ON' if native else 'OFF'}",
    ]
    run(configure)
    run(["cmake", "--build", build_dir, "--config", "Release", "--parallel", str(jobs)])
    if prefix.exists():
        shutil.rmtree(prefix)
    run(["cmake", "--install", build_dir, "--config", "Release", "--prefix", prefix])
    found = [p for p in (prefix / "llada_studio" / "core").glob("_engine*") if p.suffix in (".so", ".pyd", ".dylib")]
    if not found:
        raise BuildError(f"the engine build installed no llada_studio/core/_engine* under {prefix}")
    log(f"engine: {found[0]}")
    return prefix


# --- checks on the inputs ---------------------------------------------------------------------
def bundled_models() -> list[Path]:
    models = RESOURCES / "models"
    return sorted(p.parent for p in models.glob("*/config.json")) if models.is_dir() else []


def desktop_inputs(desktop: Path, icons: Path) -> tuple[Path, dict[str, Path]]:
    """The desktop entry and the icons (size -> file) the .deb installs; fail clearly when absent."""
    problems = []
    if not desktop.is_file():
        problems.append(f"the desktop entry {desktop} is missing (owned by the app: resources/{NAME}.desktop)")
    found: dict[str, Path] = {}
    if icons.is_dir():
        for p in sorted(icons.glob(f"{NAME}*")):
            if p.suffix == ".svg":
                found["scalable"] = p
            elif p.suffix == ".png":
                m = re.search(r"-(\d+)\.png$", p.name)
                if m:
                    found[f"{m.group(1)}x{m.group(1)}"] = p
    if not found:
        problems.append(
            f"no icon in {icons} (expected {NAME}.svg and/or {NAME}-<size>.png, e.g. {NAME}-256.png; "
            "owned by the app: resources/icons/)"
        )
    if problems:
        raise BuildError("cannot build the .deb:\n  - " + "\n  - ".join(problems) + "\n(--no-deb skips it)")
    text = desktop.read_text(encoding="utf-8")
    for key in ("Exec", "Icon", "Categories", "Name", "Type"):
        if not re.search(rf"^{key}=.+", text, re.M):
            raise BuildError(f"{desktop} has no {key}= line")
    return desktop, found


# --- 2. the bundle ----------------------------------------------------------------------------
def build_bundle(out: Path, engine_dir: Path | None) -> Path:
    try:
        import PyInstaller  # noqa: F401
    except ImportError as exc:
        raise BuildError('PyInstaller is not installed: pip install -e ".[package]"') from exc
    env = dict(os.environ)
    if engine_dir is not None:
        env["LLADA_ENGINE_DIR"] = str(engine_dir)
    dist, work = out / "dist", out / "work"
    run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            PACKAGING / f"{NAME}.spec",
            "--noconfirm",
            "--clean",
            "--log-level",
            "WARN",
            "--distpath",
            dist,
            "--workpath",
            work,
        ],
        env=env,
        cwd=ROOT,
    )
    bundle = dist / NAME
    if IS_LINUX:
        strip_debug_info(bundle)
    check_bundle(bundle)
    return bundle


def strip_debug_info(bundle: Path) -> None:
    """Drop DWARF debug sections from the ELF files that carry them (a pyenv-built libpython is
    23 MB with them, 5 MB without). Only --strip-debug (symbols stay), and never the libraries
    that auditwheel vendored into `*.libs/` folders (patchelf-ed files that strip can break).
    PyInstaller's own strip=True would strip everything, those included."""
    if shutil.which("strip") is None or shutil.which("readelf") is None:
        log("strip/readelf not found: debug sections kept")
        return
    before = dir_size(bundle)
    for p in sorted(bundle.rglob("*")):
        if not p.is_file() or p.is_symlink() or any(part.endswith(".libs") for part in p.parts):
            continue
        with open(p, "rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        sections = subprocess.run(["readelf", "-S", "-W", str(p)], capture_output=True, text=True).stdout
        if ".debug_info" in sections:
            subprocess.run(["strip", "--strip-debug", str(p)], check=True)
    log(f"stripped debug sections: {mb(before)} -> {mb(dir_size(bundle))}")


def check_bundle(bundle: Path) -> None:
    exe = bundle / (f"{NAME}.exe" if IS_WIN else NAME)
    if not exe.is_file():
        raise BuildError(f"no executable {exe}")
    internal = bundle / "_internal"
    torchy = [p for p in internal.rglob("*") if re.match(r"(lib)?(torch|c10|triton)([._-]|$)", p.name)]
    if torchy:
        raise BuildError(f"torch leaked into the bundle: {[str(p) for p in torchy[:5]]}")
    if not list((internal / "llada_studio" / "core").glob("_engine*")):
        log("WARNING: the bundle has no llada_studio/core/_engine*: it cannot generate")
    if not list((internal / "resources" / "models").glob("*/config.json")):
        log("WARNING: the bundle has no model under resources/models/")
    if IS_LINUX and shutil.which("ldd"):
        report_system_libs(bundle)


def report_system_libs(bundle: Path) -> None:
    """ldd every ELF file in the bundle: list what comes from the system and what is missing."""
    internal = bundle / "_internal"
    lib_dirs = [internal, internal / "PySide6" / "Qt" / "lib"]
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(str(d) for d in lib_dirs))
    missing: dict[str, set[str]] = {}
    system: set[str] = set()
    for p in bundle.rglob("*"):
        if not p.is_file() or p.is_symlink():
            continue
        with open(p, "rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        res = subprocess.run(["ldd", str(p)], capture_output=True, text=True, env=env)
        for line in res.stdout.splitlines():
            line = line.strip()
            if "=> not found" in line:
                missing.setdefault(line.split()[0], set()).add(p.name)
            elif "=>" in line:
                target = line.split("=>", 1)[1].split("(")[0].strip()
                if target and not target.startswith(str(bundle)):
                    system.add(Path(target).name)
    log("system libraries the bundle uses here: " + ", ".join(sorted(system)))
    deps = {d.split()[0] for d in DEB_DEPENDS}
    for lib, users in sorted(missing.items()):
        pkg = SONAME_PACKAGES.get(lib)
        where = f"the .deb depends on {pkg}" if pkg in deps else "NOT covered by the .deb's Depends"
        log(f"  not on this machine: {lib} (needed by {', '.join(sorted(users)[:3])}); {where}")


# --- 3. the archive ---------------------------------------------------------------------------
def make_archive(bundle: Path, out: Path, ver: str) -> Path:
    base = f"{NAME}-{ver}-{os_tag()}-{arch()}"
    src = bundle
    if IS_MAC:
        app = bundle.parent / f"{DISPLAY_NAME}.app"
        if app.is_dir():
            src = app
    if IS_WIN:
        path = out / f"{base}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(src.rglob("*")):
                z.write(p, Path(NAME) / p.relative_to(src))
        return path
    path = out / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=6) as t:
        t.add(src, arcname=src.name if IS_MAC else NAME)
    return path


# --- 4. the .deb ------------------------------------------------------------------------------
def deb_arch() -> str:
    if shutil.which("dpkg"):
        return subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        ).stdout.strip()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(arch(), arch())


def libc_depends() -> str:
    name, ver = platform.libc_ver()
    return f"libc6 (>= {ver})" if name == "glibc" and ver else "libc6"


def make_deb(bundle: Path, out: Path, ver: str, desktop: Path, icons: dict[str, Path], compression: str) -> Path:
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb is not on PATH (apt-get install dpkg), or pass --no-deb")
    root = out / "deb-root"
    if root.exists():
        shutil.rmtree(root)
    opt = root / "opt" / NAME
    shutil.copytree(bundle, opt, symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    os.symlink(f"/opt/{NAME}/{NAME}", root / "usr" / "bin" / NAME)

    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    text = desktop.read_text(encoding="utf-8")
    # The installed command is on PATH; the icon is found by name in the hicolor theme.
    text = re.sub(r"^Exec=(\S+)", f"Exec={NAME}", text, count=1, flags=re.M)
    text = re.sub(r"^Icon=.*$", f"Icon={NAME}", text, count=1, flags=re.M)
    (apps / f"{NAME}.desktop").write_text(text, encoding="utf-8")
    for size, src in icons.items():
        dest = root / "usr" / "share" / "icons" / "hicolor" / size / "apps" / f"{NAME}{src.suffix}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)

    doc = root / "usr" / "share" / "doc" / NAME
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        f"{DISPLAY_NAME} {ver}: MIT licence (see the project). The bundled model's licence is in "
        f"/opt/{NAME}/_internal/resources/models/*/ (its model card).\n",
        encoding="utf-8",
    )

    debian = root / "DEBIAN"
    debian.mkdir()
    installed_kb = (dir_size(root) + 1023) // 1024
    control = (
        f"Package: {NAME}\nVersion: {ver}\nArchitecture: {deb_arch()}\n"
        f"Maintainer: {DISPLAY_NAME} developers <noreply@llada-studio.invalid>\n"
        f"Installed-Size: {installed_kb}\nSection: science\nPriority: optional\n"
        f"Depends: {', '.join([libc_depends(), *DEB_DEPENDS])}\n"
        f"Description: {DISPLAY_NAME}: watch a masked-diffusion language model write\n"
        " Runs LLaDA-format masked-diffusion language models on the CPU (a C++ engine) and shows\n"
        " the answer emerge from a row of masks, a few tokens per step. Ships a small model.\n"
    )
    (debian / "control").write_text(control, encoding="utf-8")
    hook = (
        "#!/bin/sh\nset -e\n"
        "if command -v update-desktop-database >/dev/null 2>&1; then\n"
        "  update-desktop-database -q /usr/share/applications || true\nfi\n"
        "if command -v gtk-update-icon-cache >/dev/null 2>&1; then\n"
        "  gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true\nfi\n"
    )
    for script in ("postinst", "postrm"):
        (debian / script).write_text(hook, encoding="utf-8")
        (debian / script).chmod(0o755)
    for p in [root, *root.rglob("*")]:  # dpkg-deb wants sane modes regardless of the umask
        if p.is_symlink():
            continue
        p.chmod(0o755 if p.is_dir() or os.access(p, os.X_OK) else 0o644)
    (debian / "postinst").chmod(0o755)
    (debian / "postrm").chmod(0o755)

    path = out / f"{NAME}_{ver}_{deb_arch()}.deb"
    run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", root, path])
    shutil.rmtree(root)
    return path


# --- 5. the self-test -------------------------------------------------------------------------
def self_test(bundle: Path, model: str | None) -> float:
    exe = bundle / (f"{NAME}-cli.exe" if IS_WIN else NAME)
    cmd = [str(exe), "--self-test"] + (["--model", model] if model else [])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    log("$ " + " ".join(cmd))
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, cwd=bundle.parent)
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise BuildError(f"the bundle's --self-test failed (exit {res.returncode})")
    return dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=PACKAGING / "build", help="output folder (default %(default)s)")
    ap.add_argument("--native", action="store_true", help="compile the engine for this CPU (-march=native)")
    ap.add_argument(
        "--engine-dir",
        type=Path,
        default=None,
        help="use an engine already built: a folder with llada_studio/core/_engine* (skips step 1)",
    )
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="compile jobs")
    ap.add_argument("--no-archive", action="store_true", help="skip the .tar.gz/.zip")
    ap.add_argument("--no-deb", action="store_true", help="skip the .deb")
    ap.add_argument(
        "--deb-compression",
        default="xz",
        choices=["xz", "gzip", "zstd", "none"],
        help="xz: smallest, slow (about 5 min on 2 busy cores); gzip: fast (default %(default)s)",
    )
    ap.add_argument("--no-self-test", action="store_true", help="do not run the bundle's --self-test")
    ap.add_argument("--self-test-model", default=None, help="model folder for the self-test (default: the bundled one)")
    ap.add_argument(
        "--allow-no-model",
        action="store_true",
        help="build even when resources/models/ holds no model (the self-test then needs --self-test-model)",
    )
    ap.add_argument("--desktop-file", type=Path, default=DESKTOP_FILE, help="desktop entry for the .deb")
    ap.add_argument("--icon-dir", type=Path, default=ICONS, help="folder with the icons for the .deb")
    args = ap.parse_args(argv)

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    ver = version()
    timings: dict[str, float] = {}

    models = bundled_models()
    if not models and not args.allow_no_model:
        raise BuildError(
            f"no bundled model (no {RESOURCES / 'models'}/<name>/config.json); add it, or pass --allow-no-model"
        )
    log(f"bundled model(s): {', '.join(p.name for p in models) or 'none'}")
    want_deb = IS_LINUX and not args.no_deb
    deb_inputs = desktop_inputs(args.desktop_file, args.icon_dir) if want_deb else None  # fail early

    t = time.perf_counter()
    engine_dir = args.engine_dir.resolve() if args.engine_dir else build_engine(out, args.native, args.jobs)
    timings["engine"] = time.perf_counter() - t

    t = time.perf_counter()
    bundle = build_bundle(out, engine_dir)
    timings["bundle"] = time.perf_counter() - t
    log(f"bundle: {bundle} ({mb(dir_size(bundle))} unpacked)")

    if not args.no_archive:
        t = time.perf_counter()
        archive = make_archive(bundle, out, ver)
        timings["archive"] = time.perf_counter() - t
        log(f"archive: {archive} ({mb(archive.stat().st_size)})")
    if deb_inputs is not None:
        t = time.perf_counter()
        deb = make_deb(bundle, out, ver, *deb_inputs, args.deb_compression)
        timings["deb"] = time.perf_counter() - t
        log(f"deb: {deb} ({mb(deb.stat().st_size)})")
    if not args.no_self_test:
        if not models and not args.self_test_model:
            log("self-test skipped: no bundled model and no --self-test-model")
        else:
            timings["self-test"] = self_test(bundle, args.self_test_model)
    log("times: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
