"""The particle package stays light: Scipion's process imports it (no torch)."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["cryostar_boltz.engine.particles",
                                    "cryostar_boltz.engine.particles.relion",
                                    "cryostar_boltz.engine.geometry"])
def test_import_leaves_torch_unloaded(module):
    code = ("import importlib, sys\n"
            "importlib.import_module(%r)\n"
            "print(','.join(sorted(m for m in sys.modules\n"
            "                      if m.split('.')[0] in ('torch', 'pyworkflow', 'pwem'))))\n"
            % module)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_check_sees_torch():
    """Guards the test above: importing a torch module is reported."""
    code = ("import sys\nimport cryostar_boltz.engine.imaging\n"
            "print('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
