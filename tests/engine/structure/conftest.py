"""The bundled adenylate-kinase structures as coarse models."""
import pytest

from cryostar_boltz.engine.structure import load_structure


@pytest.fixture(scope="module")
def adk_open(adk_dir):
    return load_structure(adk_dir / "adk_open.pdb")


@pytest.fixture(scope="module")
def adk_closed(adk_dir):
    return load_structure(adk_dir / "adk_closed.pdb")
