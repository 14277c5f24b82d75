"""Tests of augmentation (minideeplab.datasets.augment) and of the resizes it uses."""

import numpy as np
import pytest

from minideeplab import datasets
from minideeplab import functional as F
from minideeplab.datasets.resize import resize_bilinear, resize_nearest

# --------------------------------------------------------------------------------------------
# augment
# --------------------------------------------------------------------------------------------

def test_augment_pads_labels_with_ignore_never_background():
    images, masks = datasets.make_shapes(6, size=32, seed=0)
    out_images, out_masks = datasets.augment(images, masks, np.random.default_rng(0),
                                             scale_range=(0.5, 0.5))
    assert out_images.shape == images.shape and out_masks.shape == masks.shape
    assert out_images.dtype == images.dtype and out_masks.dtype == masks.dtype
    for i in range(6):
        # The 16x16 scaled image sits somewhere in the 32x32 canvas; the rest is padding.
        padded = out_masks[i] == 255
        assert padded.sum() == 32 * 32 - 16 * 16
        assert not out_images[i][:, padded].any()          # padded image pixels are 0
        assert (out_masks[i] == 0).sum() > 0               # real background is still there


def test_augment_flip_flips_image_and_mask_together():
    images, masks = datasets.make_shapes(20, size=24, seed=1)
    out_images, out_masks = datasets.augment(images, masks, np.random.default_rng(3),
                                             flip=True, scale_range=None)
    flipped = 0
    for i in range(20):
        if np.array_equal(out_images[i], images[i]):
            np.testing.assert_array_equal(out_masks[i], masks[i])
        else:
            np.testing.assert_array_equal(out_images[i], images[i][:, :, ::-1])
            np.testing.assert_array_equal(out_masks[i], masks[i][:, ::-1])
            flipped += 1
    assert 0 < flipped < 20


def test_augment_is_deterministic_and_never_invents_labels():
    images, masks = datasets.make_shapes(5, size=32, seed=2)
    first = datasets.augment(images, masks, np.random.default_rng(11), crop_size=(20, 28))
    second = datasets.augment(images, masks, np.random.default_rng(11), crop_size=(20, 28))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[0].shape == (5, 3, 20, 28) and first[1].shape == (5, 20, 28)
    assert set(np.unique(first[1])) <= set(np.unique(masks)) | {255}


def test_augment_bad_arguments():
    images, masks = datasets.make_shapes(2, size=16)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        datasets.augment(images, masks, rng=0)
    with pytest.raises(ValueError, match="masks must be an"):
        datasets.augment(images, masks[:, :8], np.random.default_rng(0))
    with pytest.raises(ValueError, match="scale_range"):
        datasets.augment(images, masks, np.random.default_rng(0), scale_range=(1.5, 1.0))
    with pytest.raises(TypeError, match="masks must have an integer dtype"):
        datasets.augment(images, masks.astype(np.int8), np.random.default_rng(0))


# --------------------------------------------------------------------------------------------
# resizing one picture: the library's bilinear taps, nearest for labels
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size_in, size_out", [((5, 7), (9, 4)), ((8, 8), (3, 13)),
                                                ((4, 6), (4, 6))])
def test_resize_bilinear_matches_the_model_resize(size_in, size_out, align_corners):
    # The same taps as F.bilinear_resize_forward (bilinear_taps), so the same picture; only the
    # loop differs, so the sums may round differently in the last bit.
    x = np.random.default_rng(0).random((2, 3) + size_in)
    expected, _ = F.bilinear_resize_forward(x, size_out, align_corners)
    np.testing.assert_allclose(resize_bilinear(x, *size_out, align_corners=align_corners),
                               expected, rtol=1e-12, atol=1e-15)


def test_resize_bilinear_keeps_a_ramp_a_ramp_and_the_dtype():
    ramp = np.tile(np.arange(4.0), (2, 1))                 # (2, 4): rows 0 1 2 3
    out = resize_bilinear(ramp, 2, 7, align_corners=True)
    np.testing.assert_allclose(out, np.tile(np.linspace(0.0, 3.0, 7), (2, 1)), rtol=1e-15)
    assert resize_bilinear(ramp.astype(np.float32), 3, 3).dtype == np.float32


def test_resize_nearest_never_invents_a_label():
    labels = np.array([[1, 3], [3, 1]])
    np.testing.assert_array_equal(resize_nearest(labels, 4, 4),
                                  np.kron(labels, np.ones((2, 2), dtype=labels.dtype)))


def test_augment_crop_size_and_scale_range_errors_name_the_argument():
    images, masks = datasets.make_shapes(2, size=16)
    with pytest.raises(ValueError, match="crop_size must be an int or a"):
        datasets.augment(images, masks, np.random.default_rng(0), crop_size=(8, 8, 8))
    with pytest.raises(ValueError, match="crop_size must be >= 1"):
        datasets.augment(images, masks, np.random.default_rng(0), crop_size=0)
    with pytest.raises(ValueError, match="scale_range must be"):
        datasets.augment(images, masks, np.random.default_rng(0), scale_range=(0.5, 1.0, 2.0))
    with pytest.raises(TypeError, match="images must have a floating dtype"):
        datasets.augment(masks[:, None], masks, np.random.default_rng(0))
