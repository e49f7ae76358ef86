"""Full-atom positions carried by the residues' local frames."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cryostar_boltz.engine.structure import atom_positions, load_structure
from cryostar_boltz.engine.structure.frames import (frame_neighbours, local_frames,
                                                    spanned_frames)
from structure_records import backbone, nucleotide_lines, write


def translated(model, coords):
    """What a writer moving each atom by its residue's displacement gives."""
    owner = model.atoms.residue_index
    return model.atoms.coords + coords[..., owner, :] - model.coords[owner]


def rotate(points, matrix, centre, shift=(0.0, 0.0, 0.0)):
    return (points - centre) @ matrix.T + centre + np.asarray(shift)


@pytest.fixture(scope="module")
def dna_and_dipeptide(tmp_path_factory):
    """Chain B: four nucleotides (C1' pseudo-atoms on a helix); chain A:
    two amino acids, a segment too short for a frame."""
    path = tmp_path_factory.mktemp("frames") / "mixed.pdb"
    lines = nucleotide_lines(4, "B") + backbone([1, 2], chain="A", start=(40, 0, 0),
                                                first_serial=100)
    return load_structure(write(path, lines))


def test_reference_decodes_to_its_file(adk_open, dna_and_dipeptide):
    for model in (adk_open, dna_and_dipeptide):
        assert np.abs(atom_positions(model, model.coords) - model.atoms.coords).max() < 1e-5
        batch = atom_positions(model, np.stack([model.coords] * 3))
        assert batch.shape == (3, model.atoms.n, 3)
        assert np.abs(batch - model.atoms.coords).max() < 1e-5


@pytest.mark.parametrize("axis", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, -2, 0.5)])
@pytest.mark.parametrize("degrees", [30.0, 120.0])
def test_rigid_rotation_rotates_every_atom(adk_open, axis, degrees):
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    matrix = Rotation.from_rotvec(np.radians(degrees) * axis).as_matrix()
    centre = adk_open.coords.mean(0) + [3.0, -1.0, 2.0]
    coords = rotate(adk_open.coords, matrix, centre, (5.0, -2.0, 1.0))
    expected = rotate(adk_open.atoms.coords, matrix, centre, (5.0, -2.0, 1.0))
    assert np.abs(atom_positions(adk_open, coords) - expected).max() < 1e-4
    # a translation-only writer leaves the side chains in their old orientation
    assert np.abs(translated(adk_open, coords) - expected).max() > 1.0


def test_random_rotations_of_a_batch(adk_open):
    matrices = Rotation.random(5, random_state=7).as_matrix()
    coords = np.stack([adk_open.coords @ m.T for m in matrices])
    got = atom_positions(adk_open, coords, chunk=2)
    for m, matrix in enumerate(matrices):
        assert np.abs(got[m] - adk_open.atoms.coords @ matrix.T).max() < 1e-4


def test_a_turning_domain_carries_its_side_chains(adk_open):
    """The LID (residues 122-159) turns 30 degrees; the rest stays."""
    lid = np.arange(121, 159)
    matrix = Rotation.from_rotvec(np.radians(30.0) * np.array([0.0, 0.6, 0.8])).as_matrix()
    centre = adk_open.coords[lid].mean(0)
    coords = adk_open.coords.copy()
    coords[lid] = rotate(coords[lid], matrix, centre)
    got = atom_positions(adk_open, coords)
    owner = adk_open.atoms.residue_index
    inside = np.isin(owner, lid[1:-1])   # the frame's neighbours turn too
    outside = ~np.isin(owner, np.arange(120, 160))
    expected = rotate(adk_open.atoms.coords[inside], matrix, centre)
    assert np.abs(got[inside] - expected).max() < 1e-4
    assert np.abs(got[outside] - adk_open.atoms.coords[outside]).max() < 1e-9


def test_matches_frames_built_by_hand(adk_open):
    """Each residue's atoms turn by the rotation between its frame at the
    reference and at the decoded trace (Gram-Schmidt, written out here)."""
    rng = np.random.default_rng(3)
    coords = adk_open.coords + rng.normal(scale=0.7, size=adk_open.coords.shape)

    def frame(c, i):
        a, b = (i + 1, i + 2) if i == 0 else (i - 1, i - 2) if i == len(c) - 1 else (i - 1, i + 1)
        e1 = (c[a] - c[i]) / np.linalg.norm(c[a] - c[i])
        v = c[b] - c[i] - np.dot(c[b] - c[i], e1) * e1
        e2 = v / np.linalg.norm(v)
        return np.column_stack([e1, e2, np.cross(e1, e2)])

    got = atom_positions(adk_open, coords)
    for i in (0, 1, 57, 130, 212, 213):
        rows = adk_open.atoms.residue_index == i
        turn = frame(coords, i) @ frame(adk_open.coords, i).T
        expected = coords[i] + (adk_open.atoms.coords[rows] - adk_open.coords[i]) @ turn.T
        assert np.abs(got[rows] - expected).max() < 1e-4


def test_each_residue_moves_rigidly_with_its_pseudo_atom(adk_open):
    rng = np.random.default_rng(4)
    coords = adk_open.coords + rng.normal(scale=2.0, size=(2, adk_open.n, 3))
    got = atom_positions(adk_open, coords)
    assert np.abs(got[:, adk_open.atom_index] - coords).max() < 1e-9
    for i in (0, 10, 100, 213):
        rows = np.flatnonzero(adk_open.atoms.residue_index == i)
        before = np.linalg.norm(adk_open.atoms.coords[rows, None] - adk_open.atoms.coords[rows],
                                axis=-1)
        for m in range(2):
            after = np.linalg.norm(got[m, rows, None] - got[m, rows], axis=-1)
            assert np.abs(after - before).max() < 1e-4


def test_nucleotides_turn_and_a_two_residue_segment_is_translated(dna_and_dipeptide):
    model = dna_and_dipeptide
    assert list(model.is_nucleic) == [True] * 4 + [False] * 2
    assert list(model.segment_index) == [0, 0, 0, 0, 1, 1]
    matrix = Rotation.from_rotvec([0.0, 0.0, np.radians(40.0)]).as_matrix()
    centre = model.coords.mean(0)
    coords = rotate(model.coords, matrix, centre)
    got = atom_positions(model, coords)
    owner = model.atoms.residue_index
    dna = owner < 4
    assert np.abs(got[dna] - rotate(model.atoms.coords[dna], matrix, centre)).max() < 1e-4
    assert np.abs(got[~dna] - translated(model, coords)[~dna]).max() < 1e-9
    assert np.abs(got[~dna] - rotate(model.atoms.coords[~dna], matrix, centre)).max() > 0.5


def test_collinear_pseudo_atoms_have_no_frame(tmp_path, dna_and_dipeptide):
    # a straight three-residue chain: the frame is not spanned in the reference
    straight = load_structure(write(tmp_path / "straight.pdb", backbone([1, 2, 3])))
    a, b, valid = frame_neighbours(straight.segment_index)
    assert valid.all() and not spanned_frames(straight.coords, a, b).any()
    matrix = Rotation.from_rotvec([0.0, 0.0, np.radians(90.0)]).as_matrix()
    coords = straight.coords @ matrix.T
    got = atom_positions(straight, coords)
    assert np.all(np.isfinite(got))
    assert np.abs(got - translated(straight, coords)).max() < 1e-9
    # a model whose nucleotides collapse onto a line: translated in that model
    model = dna_and_dipeptide
    line = model.coords.copy()
    line[:4] = [[5.0 * k, 0.0, 0.0] for k in range(4)]
    got = atom_positions(model, np.stack([model.coords, line]))
    assert np.all(np.isfinite(got))
    assert np.abs(got[1] - translated(model, line)).max() < 1e-9
    assert np.abs(got[0] - model.atoms.coords).max() < 1e-5


def test_frames_are_rotations_and_other_shapes_are_refused(adk_open):
    a, b, _ = frame_neighbours(adk_open.segment_index)
    frames = local_frames(adk_open.coords, a, b)
    assert frames.shape == (adk_open.n, 3, 3)
    gram = np.einsum("nji,njk->nik", frames, frames)
    assert np.abs(gram - np.eye(3)).max() < 1e-5  # lengths divided with 1e-6 A added
    assert np.allclose(np.linalg.det(frames), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(M, 214, 3\)"):
        atom_positions(adk_open, adk_open.coords[:10])


def test_closed_decoded_at_the_open_trace_comes_closer_to_the_open_atoms(adk_open, adk_closed):
    """The bundled crystal pair (6.9 A CA RMSD apart): the closed model's
    atoms carried to the open CA trace sit 1.25 A RMS from the open
    structure's heavy atoms, against 1.57 A when translated with their CA
    (the DIMS path gives 1.13 against 1.37: benchmarks/bench_full_atom.py)."""
    assert np.array_equal(adk_open.atoms.names, adk_closed.atoms.names)
    matrix, _ = Rotation.align_vectors(adk_closed.coords - adk_closed.coords.mean(0),
                                       adk_open.coords - adk_open.coords.mean(0))
    ca = matrix.apply(adk_open.coords - adk_open.coords.mean(0)) + adk_closed.coords.mean(0)
    truth = matrix.apply(adk_open.atoms.coords - adk_open.coords.mean(0)) \
        + adk_closed.coords.mean(0)
    heavy = adk_closed.atoms.atomic_numbers > 1

    def rmsd(atoms):
        return np.sqrt(((atoms[heavy] - truth[heavy]) ** 2).sum(-1).mean())

    assert rmsd(atom_positions(adk_closed, ca)) == pytest.approx(1.25, abs=0.01)
    assert rmsd(translated(adk_closed, ca)) == pytest.approx(1.57, abs=0.01)
