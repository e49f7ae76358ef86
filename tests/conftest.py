"""Fixtures shared by the tests: paths to the bundled real data, and the
clean-up that keeps the session's scratch space small.

A passed test's ``tmp_path`` is removed as it ends (``tmp_path_retention_policy``
in pytest.ini). Folders that module fixtures make with ``tmp_path_factory``
are removed when their module ends, unless a test of the module failed.
Session fixtures name theirs ``session-*``; those last to the end.
"""
import shutil
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def real_data():
    """Folder of small real particle files (see tests/data/real/ORIGIN.rst)."""
    return TESTS / "data" / "real"


@pytest.fixture(scope="session")
def adk_dir():
    """Folder of the bundled adenylate-kinase open and closed structures."""
    from cryostar_boltz.engine.resources import adk_dir as _adk
    return _adk()


_failed_modules = set()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        _failed_modules.add(item.path)
    return report


@pytest.fixture(scope="module", autouse=True)
def _module_scratch(request, tmp_path_factory):
    """Remove the folders a module's fixtures made once the module is done."""
    base = tmp_path_factory.getbasetemp()
    before = set(base.iterdir())
    yield
    if request.path in _failed_modules:
        return  # kept for the failure's post-mortem
    for path in set(base.iterdir()) - before:
        if not path.name.startswith("session-"):
            shutil.rmtree(path, ignore_errors=True)
