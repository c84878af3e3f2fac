import os

import pytest

from cim_mm.datasets import IMAGENET200_WNIDS, ImageNetSubset
from cim_mm.datasets.imagenet_subset import read_wnids


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, 'wb').close()


@pytest.fixture
def classes(tmp_path):
    listed = tmp_path / 'classes.txt'
    listed.write_text('n00000002\nn00000000\n')
    return str(listed)


def test_shipped_imagenet200_list_has_200_distinct_wnids():
    wnids = read_wnids(IMAGENET200_WNIDS)
    assert len(wnids) == 200
    assert all(w.startswith('n') and len(w) == 9 for w in wnids)


def test_folder_layout_keeps_listed_classes_and_renumbers(tmp_path, classes):
    for c in range(4):
        _touch(str(tmp_path / 'train' / f'n0000000{c}' / f'img{c}.JPEG'))
    ds = ImageNetSubset(
        class_list=classes, data_root=str(tmp_path), split='train',
        lazy_init=False)
    got = sorted((os.path.basename(d['img_path']), d['gt_label'])
                 for d in map(ds.get_data_info, range(len(ds))))
    assert got == [('img0.JPEG', 1), ('img2.JPEG', 0)]
    assert ds.CLASSES == ('n00000002', 'n00000000')


def test_annotation_layout_maps_val_labels_through_train_folders(
        tmp_path, classes):
    for c in range(4):
        os.makedirs(tmp_path / 'train' / f'n0000000{c}')
        _touch(str(tmp_path / 'val' / f'v{c}.JPEG'))
    (tmp_path / 'meta').mkdir()
    (tmp_path / 'meta' / 'val.txt').write_text(
        ''.join(f'v{c}.JPEG {c}\n' for c in range(4)))
    ds = ImageNetSubset(
        class_list=classes, data_root=str(tmp_path), split='val')
    got = sorted((os.path.basename(d['img_path']), d['gt_label'])
                 for d in map(ds.get_data_info, range(len(ds))))
    assert got == [('v0.JPEG', 1), ('v2.JPEG', 0)]


def test_missing_class_folder_is_named(tmp_path, classes):
    _touch(str(tmp_path / 'train' / 'n00000000' / 'a.JPEG'))
    with pytest.raises(FileNotFoundError, match='n00000002'):
        ImageNetSubset(class_list=classes, data_root=str(tmp_path),
                       split='train')
