"""Children started by the runtime die with their parent, however the parent dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

# A parent that starts one child through the runtime, prints its pid, then waits forever.
PARENT = textwrap.dedent(
    """
    import signal, sys, time
    from image2model.runtime.children import spawn
    child = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                  death_signal=signal.SIGKILL)
    print(child.pid, flush=True)
    time.sleep(60)
    """
)


def start_parent() -> tuple[subprocess.Popen[str], psutil.Process]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    return parent, child


def test_a_child_dies_when_its_parent_is_killed() -> None:
    parent, child = start_parent()
    parent.kill()
    parent.wait()
    _, alive = psutil.wait_procs([child], timeout=5)
    assert not alive


def test_a_child_has_its_own_process_group_so_ctrl_c_reaches_only_the_parent() -> None:
    parent, child = start_parent()
    try:
        assert os.getpgid(child.pid) == child.pid != os.getpgid(parent.pid)
    finally:
        parent.send_signal(signal.SIGTERM)
        parent.wait()
        psutil.wait_procs([child], timeout=5)


def test_children_are_started_from_the_main_thread_only(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import signal, threading
        from image2model.runtime.children import spawn
        errors = []
        def start():
            try:
                spawn("x", ["true"], death_signal=signal.SIGKILL)
            except RuntimeError as error:
                errors.append(str(error))
        thread = threading.Thread(target=start); thread.start(); thread.join()
        print(errors[0])
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "main thread" in out.stdout
