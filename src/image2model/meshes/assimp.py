"""Formats trimesh does not handle (FBX), through the Open Asset Import Library's command-line
tool: the `assimp` of the `cmeel-assimp` wheel, or of Debian's `assimp-utils`.

The tool runs as a child process in a session of its own, so a conversion that hangs is
killed with everything it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 300.0
"""Seconds one conversion may take (a 500k-face textured FBX takes a few)."""
INSTALL_HINT = "install the cmeel-assimp package, or Debian's assimp-utils"


class ConversionFailed(Exception):
    """The tool ran and could not convert the file; the message says what it reported."""


@dataclass(frozen=True)
class Assimp:
    command: str

    def to_glb(self, source: Path) -> Path:
        """`source` as a triangulated binary glTF beside it (textures embedded)."""
        return self.export(source, source.with_suffix(".glb"), "glb2")

    def export(self, source: Path, target: Path, fmt: str) -> Path:
        """`source` written to `target` in assimp's export format `fmt` (`glb2`, `fbx`)."""
        partial = target.with_name(f"{target.stem}.part{target.suffix}")
        self._run("export", str(source), str(partial), f"-f{fmt}", "-tri")
        if not partial.is_file() or partial.stat().st_size == 0:
            raise ConversionFailed(f"assimp wrote no {fmt} file for {source.name}")
        os.replace(partial, target)
        return target

    def _run(self, *arguments: str) -> None:
        with subprocess.Popen(
            [self.command, *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as child:
            try:
                output, _ = child.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.communicate()
                raise ConversionFailed(f"assimp took longer than {TIMEOUT:.0f} s") from None
        if child.returncode != 0:
            raise ConversionFailed(f"assimp could not convert the file: {_last_error(output)}")


def find(command: str | None) -> Assimp | None:
    """The tool named by `command` (ASSIMP_COMMAND), else the one installed beside this
    Python, else one on PATH; None when there is none."""
    if command:
        found = shutil.which(command)
    else:
        beside_python = Path(sys.executable).parent
        found = shutil.which("assimp", path=os.pathsep.join([str(beside_python), _path()]))
    return Assimp(found) if found else None


def missing_reason(command: str | None) -> str:
    """Why there is no tool, for a 422 or a format listed as unavailable."""
    if command:
        return f"ASSIMP_COMMAND={command} is not an executable"
    return f"the assimp tool is not installed ({INSTALL_HINT})"


def _path() -> str:
    return os.environ.get("PATH", os.defpath)


def _last_error(output: bytes) -> str:
    text = output.decode(errors="replace")
    if "ERROR:" in text:
        return text.rsplit("ERROR:", 1)[1].strip().splitlines()[0][:300]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines or ["no output"])[-1][:300]
