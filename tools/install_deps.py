"""Installs the project's Python dependencies (and the named extras) into a virtualenv.

The extension itself is built by `maturin develop`; this installs only what pyproject.toml lists, so the
Makefile's dependency step does not compile the Rust crate a second time.
Usage: python tools/install_deps.py VENV [EXTRA ...]
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path


def main(argv: list[str]) -> int:
    venv, extras = Path(argv[0]), argv[1:]
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements.extend(project["optional-dependencies"][extra])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements]
    return subprocess.call(pip)  # noqa: S603 - fixed argv built from our own pyproject


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
