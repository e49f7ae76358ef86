"""Rigid domains given or found by spectral clustering (engine/domains.py)."""
import numpy as np
import pytest

from cryostar_boltz.engine.domains import (domains_record, eigengap_count,
                                           network_affinity, resolve_domains)
from cryostar_boltz.engine.structure import load_structure
from cryostar_boltz.engine.structure.selection import domain_labels


@pytest.fixture(scope="module")
def adk(adk_dir):
    return load_structure(adk_dir / "adk_closed.pdb")


def test_adenylate_kinase_splits_into_its_lid_and_the_rest(adk):
    labels = resolve_domains(adk, np.ones(adk.n, bool))
    assert labels.max() == 1          # the relative eigengap picks two
    lid = labels == labels[adk.res_ids == 140][0]
    # the LID domain (residues 122-159 in the literature) against the rest
    assert set(range(122, 160)) <= set(adk.res_ids[lid].tolist())
    assert lid.sum() < 70


def test_three_domains_are_core_nmp_and_lid(adk):
    labels = resolve_domains(adk, np.ones(adk.n, bool), num_domains=3)
    assert np.bincount(labels).tolist() == [95, 73, 46]
    of = lambda res: labels[adk.res_ids == res][0]
    assert len({of(10), of(45), of(140)}) == 3   # CORE, NMP, LID apart


def test_found_domains_cover_only_the_moving_residues(adk):
    moving = adk.res_ids > 100
    labels = resolve_domains(adk, moving, num_domains=2)
    assert (labels[~moving] == -1).all() and set(labels[moving]) == {0, 1}


def test_the_record_gives_the_domains_back(adk):
    labels = resolve_domains(adk, np.ones(adk.n, bool), num_domains=3)
    record = domains_record(adk, labels, found=True)
    assert record["count"] == 3 and record["held"] == 0
    assert [d["residues"] for d in record["per_domain"]] == [95, 73, 46]
    assert (domain_labels(adk, record["domains"]) == labels).all()


def test_given_domains_are_used_as_given(adk):
    labels = resolve_domains(adk, np.ones(adk.n, bool), "4AKE:1-120;4AKE:121-214")
    assert labels.tolist() == [0] * 120 + [1] * 94
    with pytest.raises(ValueError, match="only one domain holds residues that may move"):
        resolve_domains(adk, adk.res_ids > 130, "4AKE:1-120;4AKE:121-214")


def test_eigengap_counts_well_separated_blobs():
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(c, 2.0, (30, 3)) for c in
                            ([0, 0, 0], [40, 0, 0], [0, 40, 0])])
    assert eigengap_count(network_affinity(blobs, np.zeros((0, 2)))) == 3
