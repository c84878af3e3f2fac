"""ImageNet restricted to a list of classes (e.g. the paper's ImageNet-200)."""
import os.path as osp
from typing import List, Optional

from mmengine import fileio

from mmpretrain.datasets import ImageNet
from mmpretrain.datasets.custom import get_samples
from mmpretrain.registry import DATASETS

#: The 200 classes of the ImageNet-200 subset used by the paper's ablations
#: (SCAN, Van Gansbeke et al., ECCV 2020), one WordNet id a line.
IMAGENET200_WNIDS = osp.join(osp.dirname(__file__), 'meta',
                             'imagenet200_wnids.txt')


def read_wnids(path: str) -> List[str]:
    """Read a class list file: one WordNet id (``n01443537``) a line."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Class list file not found: {path}')
    wnids = [line.strip() for line in fileio.list_from_file(path)]
    wnids = [w for w in wnids if w]
    if len(set(wnids)) != len(wnids):
        raise ValueError(f'Class list {path} repeats a class.')
    return wnids


@DATASETS.register_module()
class ImageNetSubset(ImageNet):
    """An ImageNet-1K split keeping only the classes of a class list.

    Works with both ImageNet layouts mmpretrain supports: class folders
    (``train/n01443537/*.JPEG``) and annotation files (``meta/train.txt``
    lines ``n01443537/x.JPEG 0``; ``meta/val.txt`` lines ``x.JPEG 0`` whose
    label indexes the sorted 1000 WordNet ids, read from the ``train`` folder
    names or given as ``all_wnids_file``). Labels are re-numbered 0..C-1 in
    the order of the class list.

    Args:
        class_list (str): File with one WordNet id a line. Defaults to the
            ImageNet-200 list shipped with cim_mm.
        all_wnids_file (str, optional): The 1000 WordNet ids in label order,
            only needed for an annotation file without class folders in its
            paths when ``data_root/train`` has no class folders.
        **kwargs: Everything :class:`mmpretrain.datasets.ImageNet` accepts.
    """

    def __init__(self,
                 class_list: str = IMAGENET200_WNIDS,
                 all_wnids_file: Optional[str] = None,
                 **kwargs) -> None:
        self.subset_wnids = read_wnids(class_list)
        self.all_wnids_file = all_wnids_file
        kwargs.setdefault('metainfo', dict(classes=tuple(self.subset_wnids)))
        super().__init__(**kwargs)

    def _find_samples(self):
        """Class-folder layout: walk only the listed classes' folders."""
        missing = [w for w in self.subset_wnids
                   if not osp.isdir(osp.join(self.img_prefix, w))]
        if missing:
            raise FileNotFoundError(
                f'ImageNetSubset: {len(missing)} listed class folders are '
                f'missing under {self.img_prefix} (e.g. {missing[:3]}); check '
                'data_root/split or the class list.')
        folder_to_idx = {w: i for i, w in enumerate(self.subset_wnids)}
        samples, _ = get_samples(
            self.img_prefix, folder_to_idx, is_valid_file=self.is_valid_file)
        self.folder_to_idx = folder_to_idx
        return samples if self.with_label else [path for path, _ in samples]

    def _all_wnids(self) -> List[str]:
        if self.all_wnids_file is not None:
            return read_wnids(self.all_wnids_file)
        train_dir = osp.join(self.data_root, 'train')
        if not osp.isdir(train_dir):
            raise FileNotFoundError(
                'ImageNetSubset cannot tell which label is which WordNet id: '
                f'{train_dir} does not exist. Pass `all_wnids_file` (the 1000 '
                'ids in label order).')
        return sorted(fileio.list_dir_or_file(train_dir, list_file=False))

    def load_data_list(self):
        data_list = super().load_data_list()
        if not self.ann_file:
            return data_list  # _find_samples already kept the listed classes
        # Annotation-file layout: filter the lines and re-number the labels.
        keep = {w: i for i, w in enumerate(self.subset_wnids)}
        all_wnids = None
        subset = []
        for info in data_list:
            folder = osp.basename(osp.dirname(info['img_path']))
            if folder in keep or (folder[:1] == 'n' and folder[1:].isdigit()):
                wnid = folder
            elif 'gt_label' in info:
                if all_wnids is None:
                    all_wnids = self._all_wnids()
                wnid = all_wnids[info['gt_label']]
            else:
                raise ValueError(
                    f'Cannot tell the class of {info["img_path"]}: it is not '
                    'in a class folder and has no label.')
            if wnid in keep:
                if 'gt_label' in info:
                    info['gt_label'] = keep[wnid]
                subset.append(info)
        if not subset:
            raise ValueError(
                f'ImageNetSubset found no image of the {len(keep)} listed '
                f'classes in {self.ann_file}; check data_root/split.')
        return subset
