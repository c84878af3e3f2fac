"""SkippedImagesHook: distinct skipped files in the log, and a clear stop
when their share of the files tried is too high."""
from unittest.mock import MagicMock

import pytest
from mmpretrain.structures import DataSample

from cim_mm.engine.hooks import SkippedImagesHook


def batch(paths, skipped=()):
    samples = []
    for i, path in enumerate(paths):
        sample = DataSample(metainfo=dict(img_path=path))
        sample.set_metainfo(dict(skipped_images=list(skipped) if i == 0
                                 else []))
        samples.append(sample)
    return dict(inputs=[], data_samples=samples)


def run(hook, data_batch):
    runner = MagicMock()
    hook.after_train_iter(runner, 0, data_batch)
    return runner.message_hub.update_scalar.call_args.args


def test_counts_distinct_skipped_files_in_the_log():
    hook = SkippedImagesHook(max_skipped_fraction=0.5, min_files=100)
    assert run(hook, batch(['a', 'b'], [('bad1', 'too small')])) == (
        'train/skipped_images', 1)
    # The same file again (another epoch, another worker): still one.
    assert run(hook, batch(['a', 'c'], [('bad1', 'too small'),
                                        ('bad2', 'truncated')])) == (
        'train/skipped_images', 2)
    assert hook.tried == {'a', 'b', 'c', 'bad1', 'bad2'}


def test_stops_when_the_share_passes_the_threshold_after_min_files():
    hook = SkippedImagesHook(max_skipped_fraction=0.1, min_files=20)
    good = [f'img{i}' for i in range(15)]
    bad = [(f'bad{i}', 'not decodable') for i in range(4)]
    run(hook, batch(good, bad))  # 19 tried, 21% skipped: not checked yet
    with pytest.raises(RuntimeError) as err:
        run(hook, batch(['img15']))  # 20 tried, 4 skipped = 20% > 10%
    message = str(err.value)
    assert '4 of the 20 distinct image files' in message
    assert 'bad0: not decodable' in message
    assert 'data_root' in message and 'max_skipped_fraction' in message


def test_a_share_at_the_threshold_trains_on():
    hook = SkippedImagesHook(max_skipped_fraction=0.1, min_files=20)
    good = [f'img{i}' for i in range(18)]
    run(hook, batch(good, [('bad0', 'x'), ('bad1', 'x')]))  # 2 / 20 = 10%


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match='max_skipped_fraction'):
        SkippedImagesHook(max_skipped_fraction=1.5)
    with pytest.raises(ValueError, match='min_files'):
        SkippedImagesHook(min_files=0)
