"""Scipion's process imports the structure package: it must not pull torch."""
import subprocess
import sys


def test_structure_package_imports_without_torch():
    code = ("import sys\n"
            "import cryostar_boltz.engine.structure as s\n"
            "s.load_structure, s.read_models, s.write_models, s.ca_rmsd\n"
            "print('LOADED=' + ','.join(m for m in ('torch', 'pyworkflow', 'pwem')"
            " if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LOADED=\n" in result.stdout
