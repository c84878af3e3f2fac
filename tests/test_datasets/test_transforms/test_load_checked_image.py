"""LoadCheckedImage: unusual but valid images are converted, unusable ones
skipped (named once per process, handed to the next sample) or raised."""
import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from cim_mm.datasets.transforms import LoadCheckedImage, UnusableImageError
from cim_mm.datasets.transforms import loading


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    """Each test starts as a new DataLoader worker would."""
    monkeypatch.setattr(loading, '_PENDING_SKIPS', [])
    monkeypatch.setattr(loading, '_WARNED', set())


def photo(h=60, w=80):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), np.uint8)


def load(path, **kwargs):
    return LoadCheckedImage(**kwargs)(dict(img_path=str(path)))


def test_grayscale_palette_16bit_and_rgba_become_bgr_uint8(tmp_path):
    img = photo()
    gray = tmp_path / 'gray.png'
    cv2.imwrite(str(gray), img[..., 0])
    rgba = tmp_path / 'rgba.png'
    cv2.imwrite(str(rgba), np.dstack([img, np.full(img.shape[:2], 7,
                                                   np.uint8)]))
    deep = tmp_path / 'deep.png'
    cv2.imwrite(str(deep), img.astype(np.uint16) * 257)
    palette = tmp_path / 'palette.png'
    Image.fromarray(img[..., ::-1]).convert('P').save(palette)
    for path in (gray, rgba, deep, palette):
        out = load(path)
        assert out['img'].dtype == np.uint8, path
        assert out['img'].shape == (60, 80, 3), path
        assert out['img_shape'] == out['ori_shape'] == (60, 80)
    assert np.array_equal(load(rgba)['img'], img)
    assert np.array_equal(load(deep)['img'], img)
    gray_out = load(gray)['img']
    assert np.array_equal(gray_out[..., 0], img[..., 0])
    assert np.array_equal(gray_out[..., 0], gray_out[..., 2])


def bad_files(tmp_path):
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'\xff\xd8\xff\xe0 this is not a JPEG')
    truncated = tmp_path / 'truncated.JPG'
    ok, data = cv2.imencode('.jpg', photo(200, 300))
    truncated.write_bytes(data.tobytes()[:len(data) // 2])
    tiny = tmp_path / 'tiny.png'
    cv2.imwrite(str(tiny), photo(8, 8))
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    return {
        corrupt: 'not decodable',
        truncated: 'not decodable (corrupt, truncated',
        tiny: 'too small: 8 x 8 pixels',
        empty: 'empty file',
        tmp_path / 'missing.png': 'unreadable',
    }


def test_unusable_files_are_skipped_named_once_and_handed_over(
        tmp_path, monkeypatch):
    log = []
    monkeypatch.setattr(
        loading, 'print_log',
        lambda msg, logger=None, level=None: log.append((msg, level)))
    good = tmp_path / 'good.png'
    cv2.imwrite(str(good), photo())
    bad = bad_files(tmp_path)
    transform = LoadCheckedImage(min_size=32)
    for _ in range(2):  # a second epoch: no second warning
        for path in bad:
            assert transform(dict(img_path=str(path))) is None
    assert {level for _, level in log} == {logging.WARNING}
    for path, reason in bad.items():
        lines = [msg for msg, _ in log if f"'{path}'" in msg]
        assert len(lines) == 1, (path, lines)
        assert reason in lines[0]
    out = transform(dict(img_path=str(good)))
    assert [p for p, _ in out['skipped_images']] == [str(p) for p in bad] * 2
    # Handed over once: the next sample carries nothing.
    assert transform(dict(img_path=str(good)))['skipped_images'] == []


def test_raise_option_stops_at_the_first_bad_file_naming_it(tmp_path):
    tiny = tmp_path / 'tiny.png'
    cv2.imwrite(str(tiny), photo(8, 8))
    with pytest.raises(UnusableImageError) as err:
        load(tiny, on_bad_image='raise')
    message = str(err.value)
    assert str(tiny) in message and 'too small' in message
    assert "on_bad_image='skip'" in message


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match='on_bad_image'):
        LoadCheckedImage(on_bad_image='ignore')
    with pytest.raises(ValueError, match='min_size'):
        LoadCheckedImage(min_size=0)
