"""Files shipped with the engine (see engine/data/*/ORIGIN.rst)."""
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def adk_dir():
    """Adenylate kinase: ``adk_open.pdb`` (4AKE) and ``adk_closed.pdb`` (1AKE)."""
    return DATA / "adk"
