"""A headless Scipion project per test module (the root conftest.py has
already pointed Scipion's configuration at a throw-away folder)."""
import os

import pytest


@pytest.fixture(scope="module")
def project(request, tmp_path_factory):
    """A new project named after the test module; the working directory is
    the project folder while the module runs, as Scipion expects."""
    from pyworkflow.project import Manager
    name = "cryostar_boltz_" + request.module.__name__.rsplit(".", 1)[-1]
    workspace = tmp_path_factory.mktemp(name)
    cwd = os.getcwd()
    proj = Manager(workspace=str(workspace)).createProject(name)
    os.chdir(proj.path)  # Scipion resolves run paths from the project folder
    yield proj
    os.chdir(cwd)
