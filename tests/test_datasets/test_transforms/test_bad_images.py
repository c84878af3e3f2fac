"""A bad image in a dataset stops the pipeline with an error naming it."""
import cv2
import numpy as np
import pytest
from mmcv.transforms import Compose

import cim_mm  # noqa: F401


@pytest.fixture
def pipeline():

    def build():
        return Compose([
            dict(type='mmpretrain.LoadImageFromFile'),
            dict(type='mmpretrain.DrawCorrelationalPair'),
            dict(type='mmpretrain.PackCIMInputs'),
        ])

    return build


def test_corrupt_file_error_names_the_file(pipeline, tmp_path):
    path = tmp_path / 'corrupt.jpg'
    path.write_bytes(b'\xff\xd8\xff\xe0 this is not a JPEG')
    with pytest.raises(Exception, match='corrupt.jpg'):
        pipeline()(dict(img_path=str(path)))


def test_missing_file_error_names_the_file(pipeline, tmp_path):
    with pytest.raises(Exception, match='missing.png'):
        pipeline()(dict(img_path=str(tmp_path / 'missing.png')))


def test_too_small_image_error_names_the_file_and_the_fix(pipeline,
                                                          tmp_path):
    path = tmp_path / 'tiny.png'
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r'tiny\.png.*min_image_size'):
        pipeline()(dict(img_path=str(path)))


def test_grayscale_and_rgba_files_become_three_channel_pairs(tmp_path):
    gray, rgba = tmp_path / 'gray.png', tmp_path / 'rgba.png'
    rng = np.random.default_rng(0)
    cv2.imwrite(str(gray), rng.integers(0, 255, (120, 150), np.uint8))
    cv2.imwrite(str(rgba), rng.integers(0, 255, (120, 150, 4), np.uint8))
    load_unchanged = Compose([
        dict(type='mmpretrain.LoadImageFromFile', color_type='unchanged'),
        dict(type='mmpretrain.DrawCorrelationalPair'),
    ])
    for path in (gray, rgba):
        assert load_unchanged(dict(img_path=str(path)))['search'].shape == (
            224, 224, 3)
