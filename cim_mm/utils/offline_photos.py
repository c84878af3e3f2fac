"""Real photographs that install offline with pip packages (no download).

Used by ``make demo`` and the tests: 20 ImageNet validation photos shipped in
foolbox's ``data/`` folder (224x224 JPEGs) and the natural photos bundled
with scikit-image. CIFAR/Imagenette/etc. all download at run time, which an
offline machine cannot do.
"""
import importlib.util
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

#: scikit-image photos that ship inside the wheel (others download).
SKIMAGE_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'camera',
                  'coins', 'hubble_deep_field', 'immunohistochemistry')


def foolbox_imagenet_files() -> List[str]:
    """Paths of the 20 ImageNet photos in foolbox's data folder, sorted."""
    # Locate the package without importing it (foolbox imports its attacks).
    try:
        spec = importlib.util.find_spec('foolbox')
    except ValueError:  # a module stand-in without a spec
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('The offline demo photos need foolbox==3.3.4 '
                          '(pip install -r requirements/demo.txt).')
    folder = osp.join(spec.submodule_search_locations[0], 'data')
    files = sorted(f for f in os.listdir(folder) if f.startswith('imagenet_'))
    if not files:
        raise FileNotFoundError(f'No imagenet_*.jpg photo in {folder}.')
    return [osp.join(folder, f) for f in files]


def skimage_photos() -> Dict[str, np.ndarray]:
    """The bundled scikit-image photos as uint8 arrays (RGB or gray)."""
    import skimage.data
    return {name: getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS}


def available_photos() -> List[np.ndarray]:
    """Every offline photo this environment has, as BGR uint8 arrays
    (H, W, 3): foolbox's ImageNet photos when foolbox is installed, and
    scikit-image's bundled photos when scikit-image is. For tools that
    need real pixels but not a particular set (benchmarks); an error
    names both packages when neither is there."""
    photos = []
    try:
        photos += [cv2.imread(path) for path in foolbox_imagenet_files()]
    except (ImportError, OSError):
        pass
    try:
        photos += [
            cv2.cvtColor(p, cv2.COLOR_RGB2BGR)
            if p.ndim == 3 else np.stack([p] * 3, -1)
            for p in skimage_photos().values()
        ]
    except ImportError:
        pass
    if not photos:
        raise ImportError('No offline photos: install foolbox==3.3.4 or '
                          'scikit-image (pip install -r '
                          'requirements/demo.txt).')
    return photos


def write_demo_images(root: str, num_val: int = 4) -> Tuple[int, int]:
    """Write the offline photos as ``root/train/*.png`` and ``root/val/*.png``.

    The last ``num_val`` foolbox photos are held out for validation; every
    other photo goes to ``train``. Existing files are overwritten.

    Returns:
        tuple: the number of train and val images written.
    """
    imagenet = foolbox_imagenet_files()
    if not 0 <= num_val < len(imagenet):
        raise ValueError(f'num_val must lie in [0, {len(imagenet) - 1}], '
                         f'got {num_val}.')
    counts = {'train': 0, 'val': 0}
    for split in counts:
        os.makedirs(osp.join(root, split), exist_ok=True)

    def put(split, name, bgr):
        if not cv2.imwrite(osp.join(root, split, name + '.png'), bgr):
            raise OSError(f'Could not write {name}.png under {root}/{split}.')
        counts[split] += 1

    for i, path in enumerate(imagenet):
        split = 'val' if i >= len(imagenet) - num_val else 'train'
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f'Could not decode {path}.')
        put(split, osp.splitext(osp.basename(path))[0], img)
    for name, img in skimage_photos().items():
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        put('train', 'skimage_' + name, img)
    return counts['train'], counts['val']
