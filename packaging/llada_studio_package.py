"""LLaDA Studio: run masked-diffusion language models (LLaDA format) and watch the text emerge.

The one import name the project installs. `llada_studio.core` is the engine-facing core (no Qt),
`llada_studio.app` the desktop window; the repository keeps them as its top-level `core/` and
`app/` folders, and a wheel installs them here (pyproject.toml, CMakeLists.txt). This file is the
package's `__init__.py` in a wheel, a bundle and packaging/package_view.py's view.
"""
