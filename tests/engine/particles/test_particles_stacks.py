"""Image stacks: Fourier cropping, memory-mapped reading, writing."""
import pickle

import mrcfile
import numpy as np
import pytest

from cryostar_boltz.engine.particles import ImageStack, fourier_crop, write_stack


def test_fourier_crop_constant_and_band_limited_cosine():
    np.testing.assert_allclose(fourier_crop(np.full((2, 64, 64), 3.5), 16), 3.5, rtol=1e-6)
    D, D_new = 64, 24
    y, x = np.mgrid[:D, :D]
    fine = np.cos(2 * np.pi * (5 * x - 7 * y) / D + 0.3) + 0.5 * np.cos(2 * np.pi * 11 * y / D)
    yc, xc = np.mgrid[:D_new, :D_new]
    coarse = (np.cos(2 * np.pi * (5 * xc - 7 * yc) / D_new + 0.3)
              + 0.5 * np.cos(2 * np.pi * 11 * yc / D_new))
    out = fourier_crop(fine, D_new)
    assert out.shape == (D_new, D_new) and out.dtype == np.float32
    np.testing.assert_allclose(out, coarse, atol=1e-5)
    with pytest.raises(ValueError, match="even"):
        fourier_crop(fine, 23)


def test_image_stack_order_files_and_downsampling(real_data, tmp_path, stack_data):
    data = stack_data(real_data / "relion31.mrcs")
    negated = write_stack(tmp_path / "negated.mrcs", -data, apix=2.806)
    files = [real_data / "relion31.mrcs", negated, real_data / "relion31.mrcs", negated]
    stack = ImageStack(files, [4, 4, 0, 2])
    assert len(stack) == 4 and stack.box == 256
    np.testing.assert_array_equal(stack[[3, 0, 1]], np.stack([-data[2], data[4], -data[4]]))
    np.testing.assert_array_equal(stack[1:3], np.stack([-data[4], data[0]]))
    small = ImageStack(real_data / "relion31.mrcs", np.arange(5), downsample=64)
    assert small.box == 64 and small.source_box == 256
    np.testing.assert_allclose(small[[4, 0]], fourier_crop(data[[4, 0]], 64), atol=1e-5)
    np.testing.assert_allclose(stack.downsampled(128)[2], fourier_crop(data[0], 128), atol=1e-5)
    with mrcfile.open(negated) as mrc:
        assert mrc.voxel_size.x == pytest.approx(2.806, rel=1e-6)
    copy = pickle.loads(pickle.dumps(stack))  # as DataLoader workers get it
    np.testing.assert_array_equal(copy[[2, 1]], stack[[2, 1]])
    stack.close()
    np.testing.assert_array_equal(stack[0], data[4])  # reopens after close


def test_missing_stack_error_names_the_datadir_option(real_data, tmp_path):
    import shutil
    import pytest
    from cryostar_boltz.engine.particles import DataError, load_particles
    shutil.copy(real_data / "empiar_10076_7.star", tmp_path / "moved.star")
    with pytest.raises(DataError, match="give the folder of the stacks with --datadir"):
        load_particles(tmp_path / "moved.star", require_pose=False)


def test_missing_datadir_is_named_as_the_option(real_data, tmp_path):
    import pytest
    from cryostar_boltz.engine.particles import DataError, load_particles
    with pytest.raises(DataError, match="--datadir .*nowhere: folder not found"):
        load_particles(real_data / "empiar_10076_7.star", datadir=tmp_path / "nowhere")
