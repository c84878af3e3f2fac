"""The benchmarks' image folders, checked, as labelled image lists.

Layouts (``<wnid>`` is an ImageNet-1K WordNet id such as ``n01440764``):

* ImageNet-1K val, ImageNet-A, ImageNet-R, ImageNet-Sketch:
  ``ROOT/<wnid>/*.JPEG`` (any of .jpeg/.jpg/.png, any letter case);
* ImageNet-1K val, alternatively: images anywhere under ``ROOT`` and an
  mmpretrain annotation file (``meta/val.txt``: ``<path> <class index>``
  a line, paths relative to ``ROOT``);
* ImageNet-C: ``ROOT/<corruption>/<severity 1-5>/<wnid>/*.JPEG`` for the 15
  corruptions of :data:`~.imagenet_c.CORRUPTIONS` (other corruption folders,
  e.g. the release's 4 extra ones, are ignored).

Every sample carries its ImageNet-1K class index and a group index (the
(corruption, severity) cell for ImageNet-C, 0 otherwise).
"""
import os
import os.path as osp
from typing import List, NamedTuple, Sequence

import numpy as np
import torch
from mmengine.dataset import Compose

from .imagenet_c import CORRUPTIONS, SEVERITIES
from .wnids import NUM_IMAGENET_CLASSES, class_indices, wnid_to_index

__all__ = [
    'IMAGE_EXTENSIONS', 'Sample', 'scan_class_folders', 'scan_annotation_file',
    'scan_imagenet_c', 'LabelledImages'
]

#: Image file extensions listed (compared in lower case).
IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.png')


class Sample(NamedTuple):
    path: str
    label: int  # ImageNet-1K class index
    group: int = 0


def _images(folder: str) -> List[str]:
    return sorted(
        osp.join(folder, name) for name in os.listdir(folder)
        if osp.splitext(name)[1].lower() in IMAGE_EXTENSIONS
        and osp.isfile(osp.join(folder, name)))


def scan_class_folders(root: str, what: str, group: int = 0) -> List[Sample]:
    """Images of ``root/<wnid>/``, labelled with their ImageNet-1K index.

    Args:
        root (str): The folder of class folders.
        what (str): Named in errors, e.g. ``'imagenet-a (--imagenet-a)'``.
        group (int): The group index of every sample.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: no class folder, a folder that is not a WordNet id, or
            no image at all.
    """
    layout = f'{root}/<wnid>/*.JPEG, one folder per class named by its ' \
             'WordNet id (n01440764, ...)'
    if not osp.isdir(root):
        raise FileNotFoundError(
            f'{what}: folder not found: {root}. Expected {layout}.')
    wnids = sorted(name for name in os.listdir(root)
                   if osp.isdir(osp.join(root, name)))
    if not wnids:
        raise ValueError(f'{what}: {root} has no class folders. Expected '
                         f'{layout}.')
    class_indices(wnids, where=f'{what} ({root})')  # names checked
    table = wnid_to_index()
    samples = [
        Sample(path, table[wnid], group) for wnid in wnids
        for path in _images(osp.join(root, wnid))
    ]
    if not samples:
        raise ValueError(
            f'{what}: no image ({"/".join(IMAGE_EXTENSIONS)}) in the '
            f'{len(wnids)} class folders of {root}. Expected {layout}.')
    return samples


def scan_annotation_file(root: str, ann_file: str, what: str) -> List[Sample]:
    """Images listed by an mmpretrain annotation file (``<path> <index>``
    lines, paths relative to ``root``)."""
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'{what}: annotation file not found: '
                                f'{ann_file}')
    samples = []
    with open(ann_file) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rsplit(maxsplit=1)
            if (len(parts) != 2 or not parts[1].isdigit()
                    or int(parts[1]) >= NUM_IMAGENET_CLASSES):
                raise ValueError(
                    f'{ann_file}:{number}: expected "<image path> <class '
                    f'index 0-999>", got {line.strip()!r}')
            samples.append(Sample(osp.join(root, parts[0]), int(parts[1])))
    if not samples:
        raise ValueError(f'{what}: {ann_file} lists no image')
    missing = [s.path for s in samples[:100] if not osp.isfile(s.path)]
    if missing:
        raise FileNotFoundError(
            f'{what}: images of {ann_file} not found under {root} (e.g. '
            f'{missing[0]}); paths are relative to the data folder.')
    return samples


def scan_imagenet_c(root: str, what: str,
                    corruptions: Sequence[str] = CORRUPTIONS) -> List[Sample]:
    """Images of ``root/<corruption>/<severity>/<wnid>/``; the group of a
    sample is ``corruption_index * 5 + severity - 1``."""
    layout = (f'{root}/<corruption>/<severity 1-5>/<wnid>/*.JPEG for the 15 '
              f'corruptions {", ".join(CORRUPTIONS)}')
    if not osp.isdir(root):
        raise FileNotFoundError(
            f'{what}: folder not found: {root}. Expected {layout}.')
    missing = [
        f'{c}/{s}' for c in corruptions for s in SEVERITIES
        if not osp.isdir(osp.join(root, c, str(s)))
    ]
    if missing:
        raise FileNotFoundError(
            f'{what}: {len(missing)} of the {len(corruptions) * 5} '
            f'corruption/severity folders are missing under {root} (e.g. '
            f'{", ".join(missing[:3])}). Expected {layout}.')
    samples = []
    for c_index, name in enumerate(corruptions):
        for severity in SEVERITIES:
            samples += scan_class_folders(
                osp.join(root, name, str(severity)), what,
                group=c_index * len(SEVERITIES) + severity - 1)
    return samples


class LabelledImages(torch.utils.data.Dataset):
    """Samples through an mmpretrain test pipeline.

    Item ``i``: ``dict(inputs=<the pipeline's packed (C, H, W) image>,
    index=i)``; :attr:`labels` and :attr:`groups` are (N, ) int arrays. The
    paths are kept as numpy arrays (folder table + file names), not as
    millions of Python objects that every data loader worker would copy
    (ImageNet-C has 3.75M images).

    Args:
        samples (list[Sample]): The images.
        pipeline (list[dict]): Transform configs in the default scope
            (mmpretrain's test pipeline, ending with ``PackInputs``).
    """

    def __init__(self, samples: Sequence[Sample], pipeline: Sequence[dict]):
        from mmpretrain.registry import TRANSFORMS
        folder_ids, folders, names = {}, [], []
        for sample in samples:
            folder, name = osp.split(sample.path)
            if folder not in folder_ids:
                folder_ids[folder] = len(folders)
                folders.append(folder)
            names.append((folder_ids[folder], name.encode()))
        self.folders = np.array(folders, dtype=object)
        self.folder_index = np.array([f for f, _ in names], dtype=np.int64)
        self.names = np.array([n for _, n in names], dtype=bytes)
        self.labels = np.array([s.label for s in samples], dtype=np.int64)
        self.groups = np.array([s.group for s in samples], dtype=np.int64)
        self.pipeline = Compose([
            TRANSFORMS.build(t) if isinstance(t, dict) else t
            for t in pipeline
        ])

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, index: int) -> str:
        return osp.join(self.folders[self.folder_index[index]],
                        self.names[index].decode())

    def __getitem__(self, index: int) -> dict:
        path = self.path(index)
        packed = self.pipeline(
            dict(img_path=path, gt_label=int(self.labels[index]),
                 sample_idx=index))
        if packed is None or 'inputs' not in packed:
            raise ValueError(
                f'The test pipeline gave no packed image for {path}; it '
                'must load the image and end with PackInputs.')
        return dict(inputs=packed['inputs'], index=index)
