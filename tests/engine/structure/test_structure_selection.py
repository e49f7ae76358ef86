"""Residue selections by chains and residue ranges (structure/selection.py)."""
import numpy as np
import pytest

from cryostar_boltz.engine.structure import load_structure
from cryostar_boltz.engine.structure.selection import (
    describe_residues, domain_labels, parse_domains, parse_selection, select_residues,
    selection_text)

from structure_records import backbone, write


@pytest.fixture(scope="module")
def two_chains(tmp_path_factory):
    """Chain A residues 1-10, chain B residues -2..7 (10 each)."""
    path = tmp_path_factory.mktemp("sel") / "ab.pdb"
    lines = backbone(range(1, 11), "A") + backbone(range(-2, 8), "B", start=(0, 12, 0),
                                                   first_serial=100)
    return load_structure(write(path, lines))


def test_items_parse_to_chain_and_range():
    assert parse_selection("B, A:120-250,C:7,D:-5--1") == [
        ("B", None, None), ("A", 120, 250), ("C", 7, 7), ("D", -5, -1)]


def test_the_issue_examples_select_their_residues(two_chains):
    # 'B': every residue of chain B; 'A:120-250' style: an inclusive range
    chosen = select_residues(two_chains, "B")
    assert chosen.tolist() == [False] * 10 + [True] * 10
    chosen = select_residues(two_chains, "A:3-5")
    assert np.flatnonzero(chosen).tolist() == [2, 3, 4]
    chosen = select_residues(two_chains, "A:3-5,B:-2-0")
    assert np.flatnonzero(chosen).tolist() == [2, 3, 4, 10, 11, 12]


@pytest.mark.parametrize("text, words", [
    ("C", "the reference has no chain 'C' (its chains: A, B)"),
    ("A:120-250", "A:120-250 matches no residue (chain A holds residues 1-10)"),
    ("A:5-1", "runs backwards (5 > 1)"),
    ("A:", "cannot read 'A:'"),
    (" , ", "empty selection")])
def test_selections_that_match_nothing_are_refused(two_chains, text, words):
    with pytest.raises(ValueError) as err:
        select_residues(two_chains, text, "--move")
    assert str(err.value).startswith("--move %r" % text) and words in str(err.value)
    assert "\n" not in str(err.value)


def test_text_of_a_selection_gives_it_back(two_chains):
    chosen = np.zeros(20, bool)
    chosen[[0, 1, 2, 5, 12, 13]] = True
    text = selection_text(two_chains, chosen)
    assert text == "A:1-3,A:6,B:0-1"
    assert (select_residues(two_chains, text) == chosen).all()
    assert describe_residues(two_chains, chosen) == "6 residues (A:1-3, A:6, B:0-1)"


def test_domains_cover_the_moving_residues_once(two_chains):
    assert parse_domains("A:1-5;A:6-10;B") == ["A:1-5", "A:6-10", "B"]
    labels = domain_labels(two_chains, "A:1-5;A:6-10;B")
    assert labels.tolist() == [0] * 5 + [1] * 5 + [2] * 10
    with pytest.raises(ValueError, match=r"A:5\) are in domains 1 and 2"):
        domain_labels(two_chains, "A:1-5;A:5-10;B")
    with pytest.raises(ValueError, match=r"10 residues \(B:-2-7\) are in no domain"):
        domain_labels(two_chains, "A:1-5;A:6-10")
    # residues that do not move need no domain
    held_b = np.arange(20) < 10
    assert domain_labels(two_chains, "A:1-5;A:6-10", required=held_b)[10:].tolist() \
        == [-1] * 10
    with pytest.raises(ValueError, match="at least two"):
        parse_domains("A")
