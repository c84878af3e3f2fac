"""Pack a CIM sample for ``SelfSupDataPreprocessor``."""
from typing import Sequence

from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.datasets.transforms.formatting import to_tensor
from mmpretrain.registry import TRANSFORMS

#: Key of the packed dict that carries a search sample's drawn exemplar
#: parameters (see :class:`PackCIMInputs`).
PAIR_PARAMS = 'pair_params'


@TRANSFORMS.register_module()
class PackCIMInputs(PackInputs):
    """Pack the output of :class:`CorrelationalCrop` or
    :class:`CorrelationalPairParams` into model inputs.

    **Required Keys:** ``context`` (m x m x 3) and ``exemplars`` (K x n x n
    x 3), or ``search`` (S x S x 3); the ``algorithm_keys`` and
    ``meta_keys`` present.

    **Added Keys:**

    - ``inputs``: list of uint8 CHW tensors: ``[context (3, m, m),
      exemplar_0 (3, n, n), ..., exemplar_{K-1}]`` (K + 1 batches after
      ``default_collate``, converted element by element by
      ``SelfSupDataPreprocessor``), or ``[search (3, S, S)]``, from which
      ``CIMDataPreprocessor`` builds them on the device.
    - ``data_samples``: :obj:`mmpretrain.structures.DataSample` with the
      ``meta_keys`` as metainfo, plus ``skipped_images`` (the files
      ``LoadCheckedImage`` skipped before this sample) whatever the
      ``meta_keys``, for ``SkippedImagesHook``. For a context-exemplars
      sample it also holds the ``algorithm_keys`` present as tensors in its
      data fields (``corr_maps``: K x m x m uint8, ``exemplar_corners``: K x
      4 x 2 float32, ``exemplar_flipped``: K bool).
    - ``pair_params`` (search samples only): the ``algorithm_keys`` present
      (``exemplar_corners``, ``exemplar_flipped``, and
      ``exemplar_photometric`` K x 26 or ``exemplar_augmentation`` K x 14
      with ``context_augmentation`` 14, float32) as a dict of tensors, so that ``default_collate``
      stacks each into one (B, ...) tensor that the DataLoader pins and
      ``CIMDataPreprocessor`` moves in one copy (not one per sample), then
      gives every data sample its row.

    Args:
        algorithm_keys (Sequence[str]): Keys stored as tensors in the data
            sample, when present. Defaults to ``('corr_maps',
            'exemplar_corners', 'exemplar_flipped', 'exemplar_photometric',
            'exemplar_augmentation', 'context_augmentation')``.
        meta_keys (Sequence[str]): Keys stored as metainfo. Defaults to
            :attr:`PackInputs.DEFAULT_META_KEYS` (``sample_idx``,
            ``img_path``, ``ori_shape``, ``img_shape``, ...).
    """

    def __init__(self,
                 algorithm_keys: Sequence[str] = ('corr_maps',
                                                  'exemplar_corners',
                                                  'exemplar_flipped',
                                                  'exemplar_photometric',
                                                  'exemplar_augmentation',
                                                  'context_augmentation'),
                 meta_keys: Sequence[str] = PackInputs.DEFAULT_META_KEYS):
        super().__init__(
            input_key=None,  # the inputs are formatted below, once
            algorithm_keys=algorithm_keys,
            meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        tensors = {
            key: to_tensor(results[key])
            for key in self.algorithm_keys if key in results
        }
        search = 'search' in results
        if search:  # the tensors travel as pair_params, not in the sample
            fields = {k: v for k, v in results.items() if k not in tensors}
        else:
            fields = {**results, **tensors}
        samples = super().transform(fields)['data_samples']
        packed = {}
        if search:
            inputs = self.format_input([results['search']])
            # The sizes CIMDataPreprocessor builds, whatever the meta_keys.
            samples.set_metainfo(
                dict(img_shape=results['img_shape'],
                     exemplar_size=results['exemplar_size']))
            packed[PAIR_PARAMS] = tensors
        else:
            inputs = self.format_input(
                [results['context'], *results['exemplars']])
        if 'skipped_images' in results:
            samples.set_metainfo(
                dict(skipped_images=results['skipped_images']))
        return dict(inputs=inputs, data_samples=samples, **packed)

    def __repr__(self) -> str:
        repr_str = self.__class__.__name__
        repr_str += f'(algorithm_keys={self.algorithm_keys}, '
        repr_str += f'meta_keys={self.meta_keys})'
        return repr_str
