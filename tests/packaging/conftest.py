"""The installer check is slow (it compiles the engine and runs PyInstaller): opt in with
LLADA_BUILD_BUNDLE=1. CI runs `bash packaging/ci_bundle_check.sh` as a separate step instead."""


def pytest_configure(config):  # noqa: ANN001, ANN201
    config.addinivalue_line(
        "markers", "packaging: builds the PyInstaller bundle and installers (slow; LLADA_BUILD_BUNDLE=1)"
    )
