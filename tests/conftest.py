"""Fixtures shared by the tests: paths to the bundled real data."""
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
