"""Every field of a star, .cs or stack that the engine reads is applied as
the field says or refused in one line naming the file, the field and the
row (docs/conventions.rst, "Fields of the input files")."""
import math

import mrcfile
import numpy as np
import pytest
import torch

from cryostar_boltz.engine import imaging
from cryostar_boltz.engine.particles import (DataError, load_particles, particle_table,
                                             read_star, write_particles_star, write_stack,
                                             write_star)

N, BOX, APIX = 4, 8, 2.0
CTF = np.array([[12000.0, 11000.0, 30.0, 300.0, 2.7, 0.1, 0.0, 0.0]] * N)


@pytest.fixture
def images():
    return np.random.default_rng(3).normal(size=(N, BOX, BOX)).astype(np.float32)


@pytest.fixture
def star(tmp_path, images):
    """``star(**changes)``: a RELION 3.1 star of N particles (stack
    beside it); ``changes`` sets columns: ``{"particles/rlnX": values}``
    or ``{"optics/rlnX": values}``."""
    write_stack(tmp_path / "parts.mrcs", images, APIX)

    def make(name="parts.star", **changes):
        euler = np.tile([10.0, 20.0, 30.0], (N, 1))
        blocks = particle_table(["%d@parts.mrcs" % (i + 1) for i in range(N)], APIX,
                                BOX, euler=euler, origins=np.zeros((N, 2)), ctf=CTF)
        for key, values in changes.items():
            block, column = key.split("/")
            if values is None:
                blocks[block].pop(column)
            else:
                blocks[block][column] = np.asarray(values)
        write_star(tmp_path / name, blocks)
        return tmp_path / name
    return make


def refused(path, *words):
    with pytest.raises(DataError) as err:
        load_particles(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


# ------------------------------------------------------------ RELION optics

def test_premultiplied_images_are_refused(star):
    refused(star(**{"optics/rlnCtfDataAreCtfPremultiplied": [1]}),
            "rlnCtfDataAreCtfPremultiplied = 1", "premultipl")


def test_phase_flipped_images_are_refused(star):
    refused(star(**{"optics/rlnCtfDataArePhaseFlipped": [1]}),
            "rlnCtfDataArePhaseFlipped = 1", "phase flipping")


def test_flags_at_zero_are_accepted(star):
    p = load_particles(star(**{"optics/rlnCtfDataAreCtfPremultiplied": [0],
                               "optics/rlnCtfDataArePhaseFlipped": [0]}))
    assert p.n == N


def test_3d_images_are_refused(star):
    refused(star(**{"optics/rlnImageDimensionality": [3]}),
            "rlnImageDimensionality = 3", "2D particle images")
    refused(star(**{"particles/rlnOriginZAngst": [0.0, 0.0, 1.0, 0.0]}),
            "rlnOriginZAngst", "row 3")


def test_large_anisotropic_magnification_is_refused(star):
    mag = {"optics/rlnMagMat00": [1.1], "optics/rlnMagMat01": [0.0],
           "optics/rlnMagMat10": [0.0], "optics/rlnMagMat11": [1.0]}
    refused(star(**mag), "rlnMagMat00..11", "0.100")
    mag["optics/rlnMagMat00"] = [1.01]           # small: accepted, not applied
    assert load_particles(star(**mag)).n == N


def test_ctf_scalefactor_divides_the_images(star, images):
    p = load_particles(star(**{"particles/rlnCtfScalefactor": [1.0, 2.0, 0.5, 1.0]}))
    np.testing.assert_allclose(p.images[:], images / np.array([1, 2, 0.5, 1])[:, None, None],
                               rtol=1e-6)
    refused(star(**{"particles/rlnCtfScalefactor": [1.0, 0.0, 1.0, 1.0]}),
            "rlnCtfScalefactor in row 2 is 0")


def test_ctf_bfactor_is_relions_envelope(star):
    """rlnCtfBfactor B (A^2) multiplies the CTF by exp(-B s^2 / 4) (RELION's
    ctf.h, K4 = -B/4): at s = 0.1 / A a B of 100 gives exp(-0.25)."""
    p = load_particles(star(**{"particles/rlnCtfBfactor": [100.0] * N}))
    assert p.ctf[0, 7] == 100.0
    plain = imaging.ctf_value(torch.tensor(0.0), torch.tensor(0.1),
                              torch.as_tensor(CTF[0], dtype=torch.float64))
    damped = imaging.ctf_value(torch.tensor(0.0), torch.tensor(0.1),
                               torch.as_tensor(p.ctf[0], dtype=torch.float64))
    assert float(damped / plain) == pytest.approx(math.exp(-0.25), rel=1e-6)


def test_phase_shift_is_in_degrees(star):
    p = load_particles(star(**{"particles/rlnPhaseShift": [90.0] * N}))
    # with w = 0.1 and gamma = 90 deg at s = 0: sqrt(1 - w^2)
    value = imaging.ctf_value(torch.tensor(0.0), torch.tensor(0.0),
                              torch.as_tensor(p.ctf[0], dtype=torch.float64))
    assert float(value) == pytest.approx(math.sqrt(1 - 0.01), rel=1e-9)


# ------------------------------------------------------------ RELION particles

def test_a_word_in_a_numeric_column_is_named_with_its_row(star):
    refused(star(**{"particles/rlnDefocusU": ["12000", "12000", "abc", "12000"]}),
            "data_particles", "rlnDefocusU in row 3 is 'abc', not a number")


@pytest.mark.parametrize("key, row", [
    ("particles/rlnAngleTilt", 2), ("particles/rlnOriginXAngst", 4),
    ("particles/rlnDefocusV", 1), ("optics/rlnVoltage", 1),
    ("optics/rlnImagePixelSize", 1)])
def test_nan_and_infinite_values_are_named_with_field_and_row(star, key, row):
    block, column = key.split("/")
    blocks = read_star(star())
    values = blocks[block][column].astype(np.float64)
    values[row - 1] = np.nan if row % 2 else np.inf
    refused(star(**{key: values}), "data_%s" % block, "%s in row %d" % (column, row),
            "not finite")


def test_bad_optics_values_are_refused(star):
    refused(star(**{"optics/rlnVoltage": [0.0]}), "rlnVoltage is 0")
    refused(star(**{"optics/rlnAmplitudeContrast": [1.5]}), "rlnAmplitudeContrast is 1.5")
    refused(star(**{"particles/rlnDefocusU": [12000, 12000, -100, 12000]}),
            "rlnDefocusU is -100 (particle row 3); defocus is positive for underfocus")
    refused(star(**{"particles/rlnOpticsGroup": [1, 1, 2, 1]}), "optics group 2")
    refused(star(**{"particles/rlnOpticsGroup": [1, 1, 1.5, 1]}),
            "rlnOpticsGroup in row 3 is 1.5")


@pytest.mark.parametrize("column, value, words", [
    ("rlnImagePixelSize", -2.0, "rlnImagePixelSize is -2 (optics group 2); it must be positive"),
    ("rlnVoltage", 0.0, "rlnVoltage is 0 (optics group 2)"),
    ("rlnAmplitudeContrast", 1.5, "rlnAmplitudeContrast is 1.5 (optics group 2)")])
def test_a_bad_optics_value_names_its_optics_group(tmp_path, images, column, value, words):
    """A value read from data_optics is placed by its optics group, not by
    the row of the first particle that uses it (which the message named
    before). A value from the particle table keeps its particle row
    (test_bad_optics_values_are_refused)."""
    write_stack(tmp_path / "parts.mrcs", images, APIX)
    blocks = particle_table(["%d@parts.mrcs" % (i + 1) for i in range(N)], APIX, BOX,
                            euler=np.tile([10.0, 20.0, 30.0], (N, 1)),
                            origins=np.zeros((N, 2)), ctf=CTF,
                            optics_group=[1, 1, 2, 2])
    assert len(blocks["optics"]["rlnOpticsGroup"]) == 2
    blocks["optics"][column] = np.asarray(blocks["optics"][column], np.float64)
    blocks["optics"][column][1] = value
    write_star(tmp_path / "two_groups.star", blocks)
    message = refused(tmp_path / "two_groups.star", words)
    assert "particle row" not in message


def test_origins_in_angstrom_and_pixels(star):
    origins = np.array([[2.0, -4.0]] * N)
    both = star(**{"particles/rlnOriginXAngst": origins[:, 0],
                   "particles/rlnOriginYAngst": origins[:, 1],
                   "particles/rlnOriginX": origins[:, 0] / APIX,
                   "particles/rlnOriginY": origins[:, 1] / APIX})
    np.testing.assert_allclose(load_particles(both).shifts, origins)
    pixels_only = star(**{"particles/rlnOriginXAngst": None,
                          "particles/rlnOriginYAngst": None,
                          "particles/rlnOriginX": origins[:, 0] / APIX,
                          "particles/rlnOriginY": origins[:, 1] / APIX})
    np.testing.assert_allclose(load_particles(pixels_only).shifts, origins)
    refused(star(**{"particles/rlnOriginX": [0.0, 0.0, 0.0, 3.0],
                    "particles/rlnOriginY": [0.0] * N}),
            "disagree in row 4", "RELION 3.1 reads the Angstrom columns")
    refused(star(**{"particles/rlnOriginYAngst": None}),
            "has rlnOriginXAngst but not rlnOriginYAngst")


def test_an_origin_beyond_half_the_box_is_refused(star):
    """The box is 8 px of 2 A: an origin within 8 A keeps the particle's
    centre in its image; beyond it, none would."""
    inside = star(**{"particles/rlnOriginXAngst": [8.0, -8.0, 0.0, 7.9],
                     "particles/rlnOriginYAngst": [0.0, 3.0, -8.0, 0.0]})
    assert load_particles(inside).n == N
    refused(star(**{"particles/rlnOriginXAngst": [0.0, 0.0, 100.0, 0.0],
                    "particles/rlnOriginYAngst": [0.0, -9.0, 0.0, 0.0]}),
            "2 of 4 particles have an origin beyond half the box (8 A)",
            "first at row 2 (origin 0, -9 A)")
    # origins in pixels read as pixels: 3 px = 6 A, inside
    pixels = star(**{"particles/rlnOriginXAngst": None, "particles/rlnOriginYAngst": None,
                     "particles/rlnOriginX": [3.0] * N, "particles/rlnOriginY": [0.0] * N})
    assert load_particles(pixels).shifts[0, 0] == 6.0


def test_random_subset_is_1_or_2(star):
    assert load_particles(star(**{"particles/rlnRandomSubset": [1, 2, 1, 2]})).n == N
    refused(star(**{"particles/rlnRandomSubset": [1, 2, 3, 2]}),
            "rlnRandomSubset in row 3 is 3")


# ------------------------------------------------------------ stacks

def test_a_nan_image_is_named_by_stack_image_and_row(star, tmp_path, images):
    bad = images.copy()
    bad[2, 3, 4] = np.nan
    write_stack(tmp_path / "parts.mrcs", bad, APIX)
    p = load_particles(star())
    np.testing.assert_array_equal(p.images[[0, 1]], images[[0, 1]])  # found on read
    with pytest.raises(DataError) as err:
        p.images[:]
    message = str(err.value)
    assert "parts.mrcs: image 3 holds NaN or infinite values" in message
    assert "particle row 3 of %s" % p.path in message
    assert "the run stops here" in message and "none is skipped" in message
    with pytest.raises(DataError, match="image 3 holds NaN"):
        p.subset([3, 2]).images[:]


def test_a_stack_with_swapped_axes_is_read_as_y_x(star, tmp_path, images):
    with mrcfile.new(tmp_path / "parts.mrcs", overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(images.transpose(0, 2, 1)))
        mrc.header.mapc, mrc.header.mapr = 2, 1
        mrc.voxel_size = APIX
    np.testing.assert_array_equal(load_particles(star()).images[:], images)
    with mrcfile.open(tmp_path / "parts.mrcs", "r+") as mrc:
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 3, 2, 1
    with pytest.raises(DataError, match="parts.mrcs: MAPC/MAPR/MAPS = 3,2,1: the "
                                        "sections are not images"):
        load_particles(star())


# ------------------------------------------------------------ cryoSPARC .cs

def _cs(tmp_path, n=N, **changes):
    """A .cs file of the same particles (white images in parts.mrcs)."""
    dtype = [("blob/path", "S32"), ("blob/idx", "<u4"), ("blob/shape", "<u4", (2,)),
             ("blob/psize_A", "<f4"), ("blob/sign", "<f4"),
             ("alignments3D/pose", "<f4", (3,)), ("alignments3D/shift", "<f4", (2,)),
             ("alignments3D/psize_A", "<f4"), ("alignments3D/split", "<u4"),
             ("ctf/df1_A", "<f4"), ("ctf/df2_A", "<f4"), ("ctf/df_angle_rad", "<f4"),
             ("ctf/accel_kv", "<f4"), ("ctf/cs_mm", "<f4"), ("ctf/amp_contrast", "<f4"),
             ("ctf/scale", "<f4"), ("ctf/anisomag", "<f4", (4,)),
             ("ctf/shift_A", "<f4", (2,))]
    raw = np.zeros(n, dtype)
    raw["blob/path"], raw["blob/idx"] = b"parts.mrcs", np.arange(n)
    raw["blob/shape"], raw["blob/psize_A"], raw["blob/sign"] = BOX, APIX, -1.0
    raw["alignments3D/pose"] = [0.1, 0.2, 0.3]
    raw["alignments3D/psize_A"] = APIX
    raw["ctf/df1_A"], raw["ctf/df2_A"] = 12000.0, 11000.0
    raw["ctf/accel_kv"], raw["ctf/cs_mm"], raw["ctf/amp_contrast"] = 300.0, 2.7, 0.1
    raw["ctf/scale"] = 1.0
    for name, values in changes.items():
        raw[name] = values
    path = tmp_path / "parts.cs"
    with open(path, "wb") as fh:
        np.save(fh, raw)
    return path


def test_cs_blob_sign_minus_one_is_the_engines_white_convention(star, tmp_path, images):
    star()  # writes the stack
    np.testing.assert_array_equal(load_particles(_cs(tmp_path)).images[:], images)


def test_cs_blob_sign_plus_one_images_are_inverted(tmp_path, images):
    """Stored images of sign +1 are the negatives of the engine's: read
    back, they equal the engine's white images."""
    write_stack(tmp_path / "parts.mrcs", -images, APIX)
    p = load_particles(_cs(tmp_path, **{"blob/sign": [1.0, 1.0, 1.0, 1.0],
                                        "ctf/scale": [1.0, 2.0, 1.0, 1.0]}))
    expected = images / np.array([1, 2, 1, 1], np.float32)[:, None, None]
    np.testing.assert_allclose(p.images[:], expected, rtol=1e-6)
    # a star subset says the same through rlnCtfScalefactor = -sign * scale
    write_particles_star(tmp_path / "subset.star", p, [1, 2])
    table = read_star(tmp_path / "subset.star")["particles"]
    np.testing.assert_allclose(table["rlnCtfScalefactor"], [-2.0, -1.0])
    np.testing.assert_allclose(load_particles(tmp_path / "subset.star").images[:],
                               expected[[1, 2]], rtol=1e-6)
    refused(_cs(tmp_path, **{"blob/sign": [1.0, 0.0, 1.0, 1.0]}),
            "blob/sign in row 1 (from 0) is 0")


def test_cs_ctf_scale_divides_the_images(star, tmp_path, images):
    star()
    p = load_particles(_cs(tmp_path, **{"ctf/scale": [1.0, 2.0, 4.0, 1.0]}))
    np.testing.assert_allclose(p.images[:], images / np.array([1, 2, 4, 1])[:, None, None],
                               rtol=1e-6)


@pytest.mark.parametrize("changes, words", [
    ({"ctf/anisomag": [[0.1, 0, 0, 0]] * N}, "ctf/anisomag in row 0"),
    ({"ctf/shift_A": [[0, 0], [0, 0], [0.5, 0], [0, 0]]}, "ctf/shift_A in row 2"),
    ({"alignments3D/split": [0, 1, 2, 0]}, "alignments3D/split in row 2 (from 0) is 2"),
    ({"alignments3D/pose": [[0, 0, 0], [np.nan, 0, 0], [0, 0, 0], [0, 0, 0]]},
     "alignments3D/pose in row 1 (from 0) is [nan, 0.0, 0.0]"),
    ({"ctf/df1_A": [1.0, 1.0, 1.0, np.inf]}, "ctf/df1_A in row 3"),
    ({"blob/psize_A": [2.0, 0.0, 2.0, 2.0]}, "blob/psize_A in row 1 (from 0) is 0"),
    ({"ctf/amp_contrast": [1.2] * N}, "ctf/amp_contrast in row 0"),
    ({"ctf/df2_A": [1.0, -100.0, 1.0, 1.0]},
     "ctf/df2_A in row 1 (from 0) is -100; defocus is positive for underfocus"),
])
def test_cs_fields_the_engine_does_not_model_are_refused(star, tmp_path, changes, words):
    star()
    refused(_cs(tmp_path, **changes), words)


def test_cs_identity_or_zero_anisomag_is_accepted(star, tmp_path):
    star()
    assert load_particles(_cs(tmp_path, **{"ctf/anisomag": [[1, 0, 0, 1]] * N})).n == N


def test_image_names_and_sizes_are_checked_by_row(star):
    names = ["1@parts.mrcs", "0@parts.mrcs", "3@parts.mrcs", "4@parts.mrcs"]
    refused(star(**{"particles/rlnImageName": names}),
            "rlnImageName in row 2 has index 0")
    names[1] = "x@parts.mrcs"
    refused(star(**{"particles/rlnImageName": names}),
            "rlnImageName in row 2 has a bad index 'x'")
    refused(star(**{"optics/rlnImageSize": [8.5]}), "rlnImageSize is 8.5")


def test_pixel_size_from_the_stack_header_is_said(star):
    """A star without a pixel size takes the stack header's, and says so."""
    given = load_particles(star())
    assert given.apix_source == "particle file"
    header = load_particles(star(**{"optics/rlnImagePixelSize": None}))
    assert header.apix_source == "stack header"
    np.testing.assert_allclose(header.apix, given.apix, rtol=1e-5)
