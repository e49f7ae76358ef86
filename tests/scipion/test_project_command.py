"""``cryostar-boltz project`` refuses, in one line, what it cannot open."""
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pyworkflow")

_MAKE_PROJECT = textwrap.dedent("""
    import sys
    from cryostar_boltz.workflow import headless
    headless.configure(sys.argv[1], gui=True)
    from pyworkflow.project import Manager
    Manager().createProject(sys.argv[2])
""")


def test_without_a_display_the_project_command_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SCIPION") and k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    scipion = tmp_path / "scipion"
    subprocess.run([sys.executable, "-c", _MAKE_PROJECT, str(scipion), "p"], env=env,
                   check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "cryostar_boltz.workflow.project", "p",
                           "--scipion", str(scipion)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("cryostar-boltz project: error: no display for the project window")
