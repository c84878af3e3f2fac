"""cim_mm.evaluation.robustness.folders: the layouts, labels, groups and
the errors for missing or malformed folders."""
import pytest
from PIL import Image

from cim_mm.evaluation.robustness import (CORRUPTIONS, scan_annotation_file,
                                          scan_class_folders,
                                          scan_imagenet_c, wnid_to_index)

W1, W2 = 'n01440764', 'n01443537'


def image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', (8, 8)).save(path)


def test_class_folders_give_imagenet_indices(tmp_path):
    image(tmp_path / W2 / 'b.JPEG')
    image(tmp_path / W2 / 'a.jpg')
    image(tmp_path / W1 / 'x.PNG')
    (tmp_path / W1 / 'notes.txt').write_text('not an image')
    samples = scan_class_folders(str(tmp_path), 'IN-SK')
    assert [(s.path.split('/')[-1], s.label, s.group) for s in samples] == [
        ('x.PNG', 0, 0), ('a.jpg', 1, 0), ('b.JPEG', 1, 0)]


def test_class_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match='IN-A: folder not found'):
        scan_class_folders(str(tmp_path / 'missing'), 'IN-A')
    with pytest.raises(ValueError, match='no class folders.*<wnid>'):
        scan_class_folders(str(tmp_path), 'IN-A')
    (tmp_path / W1).mkdir()
    with pytest.raises(ValueError, match='no image'):
        scan_class_folders(str(tmp_path), 'IN-A')
    image(tmp_path / 'val' / 'x.JPEG')
    with pytest.raises(ValueError, match=r"\['val'\]"):
        scan_class_folders(str(tmp_path), 'IN-A')


def test_imagenet_c_groups(tmp_path):
    for c in CORRUPTIONS:
        for s in range(1, 6):
            image(tmp_path / c / str(s) / W1 / 'a.JPEG')
    image(tmp_path / 'speckle_noise' / '1' / W1 / 'a.JPEG')  # extra: ignored
    samples = scan_imagenet_c(str(tmp_path), 'IN-C')
    assert len(samples) == 75
    assert sorted(s.group for s in samples) == list(range(75))
    fog_3 = [s for s in samples if '/fog/3/' in s.path]
    assert fog_3[0].group == CORRUPTIONS.index('fog') * 5 + 2


def test_imagenet_c_missing_severity(tmp_path):
    for c in CORRUPTIONS:
        for s in range(1, 6):
            if (c, s) != ('snow', 4):
                image(tmp_path / c / str(s) / W1 / 'a.JPEG')
    with pytest.raises(FileNotFoundError, match='1 of the 75.*snow/4'):
        scan_imagenet_c(str(tmp_path), 'IN-C')


def test_annotation_file(tmp_path):
    image(tmp_path / 'val' / 'ILSVRC2012_val_00000001.JPEG')
    ann = tmp_path / 'val.txt'
    ann.write_text('ILSVRC2012_val_00000001.JPEG 65\n')
    samples = scan_annotation_file(str(tmp_path / 'val'), str(ann), 'IN')
    assert samples[0].label == 65
    assert wnid_to_index()[W2] == 1
    ann.write_text('ILSVRC2012_val_00000001.JPEG n01440764\n')
    with pytest.raises(ValueError, match='val.txt:1: expected'):
        scan_annotation_file(str(tmp_path / 'val'), str(ann), 'IN')
    ann.write_text('missing.JPEG 3\n')
    with pytest.raises(FileNotFoundError, match='relative to the data'):
        scan_annotation_file(str(tmp_path / 'val'), str(ann), 'IN')


def test_labelled_images_keep_paths_labels_and_groups(tmp_path):
    from cim_mm.evaluation.robustness import LabelledImages
    for c in CORRUPTIONS:
        for s in (1, 2, 3, 4, 5):
            image(tmp_path / c / str(s) / W1 / 'a.JPEG')
            image(tmp_path / c / str(s) / W2 / 'b.jpg')
    samples = scan_imagenet_c(str(tmp_path), 'IN-C')
    images = LabelledImages(samples, [
        dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    assert len(images) == 150 and len(images.folders) == 150
    assert [images.path(i) for i in range(150)] == [s.path for s in samples]
    assert images.labels.tolist() == [s.label for s in samples]
    assert images.groups.tolist() == [s.group for s in samples]
    item = images[3]
    assert item['index'] == 3 and tuple(item['inputs'].shape) == (3, 8, 8)
