"""Simulated particle datasets from an ensemble of atomic structures.

Each particle picks a structure (state) by weight, a uniformly random
orientation, a random in-plane shift and a defocus; its image is the line
integral of all heavy atoms (Gaussian atoms weighted by atomic number,
integrated over each pixel), shifted, CTF-modulated (RELION sign), plus white
Gaussian noise at the requested SNR. The output is a RELION 3.1 star, an
``.mrcs`` stack and the ground truth, so every reader and convention of the
engine is exercised exactly as on real data.

SNR is the variance of the noiseless (CTF-modulated) images over the whole
box, averaged over the dataset, divided by the noise variance.
"""
import time
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import torch
from . import imaging
from .geometry import euler_to_matrix, random_euler
from .io import atomic_path, reserve, save_npz
from .layout import REFERENCE_STEM, structure_files
from .particles import check_box, particle_table, write_star
from .pseudoatoms import atom_sigma
from .structure import (CoarseModel, load_ensemble, load_structure, output_format,
                        write_models)


@dataclass
class SimulationResult:
    """Paths of what ``simulate_dataset`` wrote."""
    star: Path
    stack: Path
    truth: Path
    reference: Path


@dataclass
class StateEnsemble:
    """Heavy atoms of several states sharing one topology.

    ``atom_coords`` is (S, A, 3) Angstrom; ``atomic_numbers`` (A,);
    ``model`` is the coarse model of state 0 (topology, full-atom writer);
    ``atom_index`` (A,) maps each heavy atom to its row in
    ``model.atoms`` so any state can be written out full-atom.
    """
    atom_coords: np.ndarray
    atomic_numbers: np.ndarray
    model: CoarseModel
    atom_index: np.ndarray

    @property
    def n_states(self):
        return len(self.atom_coords)

    def pseudo_atom_coords(self):
        """(S, N, 3) positions of each state's CA / C1' atoms."""
        columns = np.searchsorted(self.atom_index, self.model.atom_index)
        return self.atom_coords[:, columns]


def _heavy_rows(model):
    z = model.atoms.atomic_numbers
    return np.flatnonzero(z > 1)


def ensemble_from_structures(paths):
    """Load several structure files (or one multi-model file) as states.

    All states must hold the same atoms in the same order (as for a
    trajectory or a morph); the first model of each file is one state, and a
    single file with several models gives one state per model.
    """
    paths = [Path(p) for p in paths]
    if len(paths) == 1:
        first, coords = load_ensemble(paths[0])
    else:
        first = load_structure(paths[0])
        coords = [first.atoms.coords]
        for path in paths[1:]:
            model = load_structure(path)
            if model.atoms.n != first.atoms.n or not np.array_equal(
                    model.atoms.names, first.atoms.names):
                raise ValueError(
                    "%s has other atoms than %s (%d vs %d): all states must "
                    "share one topology" % (path, paths[0], model.atoms.n,
                                            first.atoms.n))
            coords.append(model.atoms.coords)
        coords = np.stack(coords)
    rows = _heavy_rows(first)
    return StateEnsemble(coords[:, rows], first.atoms.atomic_numbers[rows],
                         first, rows)


def draw_parameters(n, weights, rng, defocus_range=(10000.0, 30000.0),
                    astigmatism=300.0, shift_std=2.0, voltage=300.0, cs=2.7,
                    amplitude_contrast=0.1):
    """Per-particle state, Euler angles, origin shifts (Angstrom) and CTF."""
    weights = np.asarray(weights, dtype=np.float64)
    state = rng.choice(len(weights), size=n, p=weights / weights.sum())
    euler = random_euler(n, rng)
    shifts = rng.normal(0.0, shift_std, size=(n, 2))
    defocus = rng.uniform(*defocus_range, size=n)
    delta = rng.uniform(0.0, astigmatism, size=n)
    ctf = np.zeros((n, 8))
    ctf[:, 0] = defocus + delta / 2
    ctf[:, 1] = defocus - delta / 2
    ctf[:, 2] = rng.uniform(-180.0, 180.0, size=n)
    ctf[:, 3] = voltage
    ctf[:, 4] = cs
    ctf[:, 5] = amplitude_contrast
    return state, euler, shifts, ctf


def render_particles(atom_coords, atomic_numbers, rotations, shifts, ctf, box,
                     apix, dtype=torch.float32):
    """Noiseless CTF-modulated images of one state for a batch of poses.

    ``atom_coords`` (A, 3) in the box frame; ``rotations`` (B, 3, 3) RELION
    A; ``shifts`` (B, 2) RELION origins (Angstrom); ``ctf`` (B, 8).
    """
    coords = torch.as_tensor(atom_coords, dtype=dtype)
    amps = torch.as_tensor(atomic_numbers, dtype=dtype)
    images = imaging.project_gaussians(
        coords, amps, torch.as_tensor(rotations, dtype=dtype), box, apix,
        sigma=atom_sigma(apix), shifts=torch.as_tensor(shifts, dtype=dtype))
    ctf_grid = imaging.compute_ctf(torch.as_tensor(ctf, dtype=dtype), box, apix)
    return imaging.apply_ctf(images, ctf_grid)


def _render_all(ensemble, state, rotations, shifts, ctf, box, apix, out,
                batch):
    """Fill ``out`` (n, D, D) with noiseless images, batch by batch per state."""
    for s in range(ensemble.n_states):
        rows = np.flatnonzero(state == s)
        for start in range(0, len(rows), batch):
            idx = rows[start:start + batch]
            out[idx] = render_particles(
                ensemble.atom_coords[s], ensemble.atomic_numbers,
                rotations[idx], shifts[idx], ctf[idx], box, apix).numpy()


def simulate_dataset(structures, out_dir, n_particles, box, apix, weights=None,
                     snr=0.1, defocus_range=(10000.0, 30000.0),
                     astigmatism=300.0, shift_std=None, voltage=300.0, cs=2.7,
                     amplitude_contrast=0.1, seed=0, name="particles",
                     batch=256, log=None):
    """Write a simulated particle dataset; return a ``SimulationResult``.

    ``structures``: a ``StateEnsemble``, or structure file paths (several
    files, or one multi-model file). States are centred together: the
    amplitude-weighted centre of state 0 goes to the box centre, and
    ``reference.pdb`` (``reference.cif`` when a PDB file cannot hold the
    model) holds state 0 in that box frame (the reference a training run
    should get). ``snr=None`` writes noiseless images.
    ``shift_std`` defaults to 2 pixels.
    """
    t0 = time.perf_counter()
    if n_particles < 1:
        raise ValueError("the number of particles must be at least 1, got %d"
                         % n_particles)
    box = check_box(box, "--box")
    if not apix > 0:
        raise ValueError("the pixel size must be positive, got %g A" % apix)
    if not 0 < defocus_range[0] <= defocus_range[1]:
        raise ValueError("the defocus range must be positive and low <= high, "
                         "got %g %g A" % tuple(defocus_range))
    ensemble = (structures if isinstance(structures, StateEnsemble)
                else ensemble_from_structures(structures))
    weights = np.ones(ensemble.n_states) if weights is None else weights
    if len(weights) != ensemble.n_states:
        raise ValueError("%d weights given for %d structures"
                         % (len(weights), ensemble.n_states))
    rng = np.random.default_rng(seed)
    centre = _state_centre(ensemble)
    placed = StateEnsemble(ensemble.atom_coords - centre,
                           ensemble.atomic_numbers,
                           ensemble.model.translated(-centre),
                           ensemble.atom_index)
    _check_fits(placed, box, apix)
    fmt = output_format(placed.model)  # mmCIF when PDB cannot hold it
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shift_std = 2.0 * apix if shift_std is None else shift_std
    state, euler, shifts, ctf = draw_parameters(
        n_particles, weights, rng, defocus_range, astigmatism, shift_std,
        voltage, cs, amplitude_contrast)
    rotations = euler_to_matrix(euler)

    stack = out_dir / (name + ".mrcs")
    with atomic_path(stack, "particle stack of %d images of %d px" % (
            n_particles, box)) as tmp_stack, mrcfile.new_mmap(
            str(tmp_stack), shape=(n_particles, box, box), mrc_mode=2) as mrc:
        reserve(tmp_stack)  # a full disk: ENOSPC here, not SIGBUS mid-write
        mrc.set_image_stack()
        mrc.voxel_size = apix
        images = mrc.data
        _render_all(placed, state, rotations, shifts, ctf, box, apix, images,
                    batch)
        noise_std = 0.0
        if snr is not None:
            signal_var = _mean_variance(images)
            noise_std = float(np.sqrt(signal_var / snr))
            for start in range(0, n_particles, 4096):
                chunk = images[start:start + 4096]
                chunk += rng.normal(0.0, noise_std, chunk.shape).astype(
                    np.float32)
        mrc.update_header_stats()

    star = out_dir / (name + ".star")
    names = np.array(["%06d@%s" % (i + 1, stack.name) for i in range(n_particles)])
    write_star(star, particle_table(
        names, apix, box, euler=euler, origins=shifts, ctf=ctf,
        columns={"rlnRandomSubset": np.arange(n_particles) % 2 + 1}))
    truth = out_dir / (name + "_truth.npz")
    save_npz(truth, state=state, euler=euler, shifts=shifts, ctf=ctf,
             weights=np.asarray(weights, dtype=np.float64), centre=centre,
             noise_std=noise_std, snr=np.nan if snr is None else snr,
             box=box, apix=apix,
             state_coords=placed.pseudo_atom_coords())
    reference = structure_files(out_dir / REFERENCE_STEM, fmt)[0]
    write_models(reference, placed.model, placed.model.coords, full_atom=True)
    if log:
        log("simulated %d particles (%d states, %d px, %.2f A/px) in %.1f s"
            % (n_particles, ensemble.n_states, box, apix,
               time.perf_counter() - t0))
    return SimulationResult(star, stack, truth, reference)


def _state_centre(ensemble):
    weights = ensemble.atomic_numbers / ensemble.atomic_numbers.sum()
    return weights @ ensemble.atom_coords[0]


def _check_fits(ensemble, box, apix):
    radius = np.linalg.norm(ensemble.atom_coords, axis=-1).max()
    half = (box // 2 - 1) * apix
    if radius > half:
        raise ValueError(
            "the structures reach %.1f A from their centre but a box of %d px "
            "at %.2f A/px only holds %.1f A: use a larger box or pixel size"
            % (radius, box, apix, half))


def _mean_variance(images, chunk=4096):
    total = 0.0
    for start in range(0, len(images), chunk):
        total += float(np.var(images[start:start + chunk], axis=(1, 2),
                              dtype=np.float64).sum())
    return total / len(images)

