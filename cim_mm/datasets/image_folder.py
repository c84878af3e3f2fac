"""Every image under a folder, recursively, without labels."""
import os.path as osp
from typing import Sequence

from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS

#: Extensions listed (compared in lower case, so ``.JPG`` counts too).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.bmp', '.dib',
                    '.webp', '.tif', '.tiff', '.ppm', '.pgm', '.pbm', '.pnm')


@DATASETS.register_module()
class UnlabelledImageFolder(CustomDataset):
    """All files with an image extension under ``data_root``, in every
    sub-folder, in any letter case; no labels, no annotation file.

    mmpretrain's ``CustomDataset(with_label=False)`` with the common image
    extensions and errors that name the folder. Files with other extensions
    (text files, archives, ...) are not listed at all; images that cannot be
    used are the loading step's business (``LoadCheckedImage``).

    Args:
        data_root (str): The folder.
        extensions (Sequence[str]): Extensions to list. Defaults to
            :data:`IMAGE_EXTENSIONS`.
        **kwargs: Other ``CustomDataset``/``BaseDataset`` arguments
            (``pipeline``, ``max_refetch``, ...).
    """

    def __init__(self,
                 data_root: str,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 **kwargs) -> None:
        if kwargs.get('with_label'):
            raise ValueError('UnlabelledImageFolder has no labels; use '
                             "mmpretrain's CustomDataset for class folders.")
        kwargs.pop('with_label', None)
        super().__init__(
            data_root=data_root,
            with_label=False,
            extensions=extensions,
            **kwargs)

    def _find_samples(self):
        root = self.img_prefix
        where = ('Set it with --cfg-options '
                 'train_dataloader.dataset.data_root=DIR.')
        if not osp.isdir(root):
            raise FileNotFoundError(
                f"UnlabelledImageFolder: data_root '{root}' is not a "
                f'folder. {where}')
        try:
            return super()._find_samples()
        except RuntimeError as err:
            if not str(err).startswith('Found 0 files'):
                raise
            raise RuntimeError(
                f"UnlabelledImageFolder: no image under '{root}' (searched "
                'every sub-folder for the extensions '
                f"{' '.join(sorted(self.extensions))}, in any letter case). "
                f'{where}') from None
