"""Pre-training on a user's own messy folder with the folder config and
tools/train.py: unusual images converted, unusable ones skipped and named,
a checkpoint at the end; too many unusable files stop the run clearly."""
import glob
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from cim_mm.checkpoint import read_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FOLDER_CONFIG = osp.join(REPO, 'configs', 'cim_vitb_300e_folder.py')


def tiny_folder_config(tmp_path, data_root, max_iters=4, **hook):
    """configs/cim_vitb_300e_folder.py with a tiny encoder and a few
    iterations; only the data_root override is what a user types."""
    hook_cfg = dict(type='SkippedImagesHook', **hook)
    path = tmp_path / 'tiny_folder.py'
    path.write_text(f'''
_base_ = [{FOLDER_CONFIG!r}]
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=1,
                            num_heads=2, feedforward_channels=64)),
    neck=dict(in_channels=32, embed_dim=32, num_heads=2))
train_dataloader = dict(batch_size=2, num_workers=0,
                        persistent_workers=False,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(data_root={str(data_root)!r}))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters={max_iters})
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(by_epoch=False,
                                     interval={max_iters}))
custom_hooks = [dict(type='TargetEMAHook'), {hook_cfg!r},
                dict(type='CorrelationMapVisualizationHook', interval=2)]
''')
    return path


def write(path, img, ext=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(ext or path.suffix.lower(), img)
    path.write_bytes(data.tobytes())


def photos(demo_data_root, count):
    paths = sorted(glob.glob(osp.join(demo_data_root, 'train', '*.png')))
    return [cv2.imread(p) for p in paths[:count]]


@pytest.fixture
def messy_folder(demo_data_root, tmp_path):
    """Sub-folders, upper-case extensions, a grayscale and an RGBA PNG, a
    corrupt JPEG, an 8 x 8 image and a text file."""
    root = tmp_path / 'my photos'
    good = photos(demo_data_root, 4)
    write(root / 'holiday' / 'IMG_0001.JPG', good[0], '.jpg')
    write(root / 'holiday' / 'day 2' / 'IMG_0002.JPEG', good[1], '.jpg')
    write(root / 'scans' / 'gray.png', cv2.cvtColor(good[2],
                                                     cv2.COLOR_BGR2GRAY))
    write(root / 'scans' / 'rgba.PNG',
          np.dstack([good[3], np.full(good[3].shape[:2], 128, np.uint8)]),
          '.png')
    (root / 'holiday' / 'broken.jpg').write_bytes(b'\xff\xd8\xff not a JPEG')
    write(root / 'icons' / 'tiny.png', good[0][:8, :8])
    (root / 'notes.txt').write_text('shopping list')
    return root


def train(config, work_dir, *options):
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config),
         '--work-dir', str(work_dir), *options],
        cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_folder_config_trains_on_a_messy_folder_naming_bad_files(
        messy_folder, tmp_path):
    work_dir = tmp_path / 'work'
    result = train(tiny_folder_config(tmp_path, messy_folder), work_dir)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    # 6 image files listed (not the text file), 2 of them unusable.
    assert "Skipped image '" in log
    for name, reason in (('broken.jpg', 'not decodable'),
                         ('tiny.png', 'too small: 8 x 8 pixels')):
        named = [line for line in log.splitlines()
                 if f'{name}\': {reason}' in line]
        assert len(named) == 1, (name, named)
    assert 'notes.txt' not in log
    assert 'skipped_images: 2' in log  # the training log line's count
    checkpoint = read_checkpoint(work_dir / 'iter_4.pth')
    assert any(k.startswith('neck.') for k in checkpoint['state_dict'])
    # The maps drawn at iterations 2 and 4 (exemplar | true | predicted).
    drawn = sorted(
        osp.basename(p) for p in glob.glob(
            osp.join(work_dir, '*', 'vis_data', 'vis_image', '*.png')))
    assert drawn == ['correlation_maps_2.png', 'correlation_maps_4.png']
    image = cv2.imread(osp.join(glob.glob(osp.join(
        work_dir, '*', 'vis_data', 'vis_image'))[0], drawn[0]))
    assert image.shape == (2 * 2 * (160 + 2) - 2, 3 * 160 + 4, 3)

    # Then ask the trained model where a box of one of the photos is.
    photo = messy_folder / 'holiday' / 'IMG_0001.JPG'
    out_dir = tmp_path / 'inferred'
    inferred = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'infer_correlation.py'),
         str(tmp_path / 'tiny_folder.py'), str(work_dir / 'iter_4.pth'),
         str(photo), '--box', '10', '20', '60', '70', '--out-dir',
         str(out_dir)], cwd=REPO, capture_output=True, text=True,
        timeout=600)
    assert inferred.returncode == 0, inferred.stderr[-3000:]
    lines = inferred.stdout.strip().splitlines()
    assert len(lines) == 1
    answer = json.loads(lines[0])
    assert {'box', 'score', 'map', 'overlay'} <= answer.keys()
    assert osp.isfile(answer['overlay']) and osp.isfile(answer['map'])
    assert cv2.imread(answer['map']).shape[:2] == cv2.imread(
        str(photo)).shape[:2]


@pytest.mark.slow
def test_a_folder_of_mostly_bad_files_stops_with_a_clear_error(
        demo_data_root, tmp_path):
    root = tmp_path / 'wrong folder'
    for i, img in enumerate(photos(demo_data_root, 2)):
        write(root / f'good{i}.png', img)
    for i in range(4):
        (root / f'bad{i}.jpg').write_bytes(b'not an image at all')
    config = tiny_folder_config(tmp_path, root, max_iters=20, min_files=4,
                                max_skipped_fraction=0.1)
    result = train(config, tmp_path / 'work')
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'distinct image files tried so far could not be used' in log
    assert 'max_skipped_fraction' in log


@pytest.mark.slow
def test_raise_option_stops_at_the_first_bad_file(messy_folder, tmp_path):
    config = tiny_folder_config(tmp_path, messy_folder)
    result = train(config, tmp_path / 'work', '--cfg-options',
                   'train_dataloader.dataset.pipeline.0.on_bad_image=raise')
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'Cannot use image' in log
    assert 'broken.jpg' in log or 'tiny.png' in log
