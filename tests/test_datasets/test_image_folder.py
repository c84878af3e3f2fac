"""UnlabelledImageFolder: every image under a folder, recursively, in any
letter case; nothing else; errors that name the folder."""
import cv2
import numpy as np
import pytest

from cim_mm.datasets import IMAGE_EXTENSIONS, UnlabelledImageFolder


def write_image(path, size=40):
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode('.png', np.zeros((size, size, 3), np.uint8))
    path.write_bytes(data.tobytes())


def test_lists_images_in_every_subfolder_in_any_case(tmp_path):
    names = ['a.jpg', 'sub/B.JPG', 'sub/deeper/c.Png', 'd.webp', 'e.TIFF',
             'f.jpeg', 'g.bmp']
    for name in names:
        write_image(tmp_path / name)  # the content does not matter here
    (tmp_path / 'notes.txt').write_text('not an image')
    (tmp_path / 'sub' / 'archive.zip').write_bytes(b'PK')
    (tmp_path / 'sub' / 'noext').write_bytes(b'')
    dataset = UnlabelledImageFolder(data_root=str(tmp_path), pipeline=[])
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    listed = sorted(info['img_path'][len(str(tmp_path)) + 1:]
                    for info in infos)
    assert listed == sorted(names)
    assert all('gt_label' not in info for info in infos)


def test_common_extensions_are_listed():
    for ext in ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff'):
        assert ext in IMAGE_EXTENSIONS


def test_folder_without_images_error_names_folder_and_extensions(tmp_path):
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'readme.txt').write_text('x')
    with pytest.raises(RuntimeError) as err:
        UnlabelledImageFolder(data_root=str(tmp_path), pipeline=[])
    message = str(err.value)
    assert str(tmp_path) in message
    assert '.jpg' in message and '.webp' in message
    assert 'train_dataloader.dataset.data_root' in message


def test_missing_folder_error_names_it(tmp_path):
    missing = tmp_path / 'nowhere'
    with pytest.raises(FileNotFoundError, match=str(missing)):
        UnlabelledImageFolder(data_root=str(missing), pipeline=[])


def test_labels_are_refused():
    with pytest.raises(ValueError, match='no labels'):
        UnlabelledImageFolder(data_root='x', with_label=True)
