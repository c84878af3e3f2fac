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
    """Pack the output of :class:`DrawCorrelationalPair` into model inputs.

    **Required Keys:** ``search`` (S x S x 3 uint8), ``img_shape`` (m, m),
    ``exemplar_size`` (n); the ``algorithm_keys`` and ``meta_keys``
    present.

    **Added Keys:** ``inputs`` ``[search (3, S, S)]`` uint8;
    ``data_samples`` (a ``DataSample`` with the ``meta_keys``, plus
    ``img_shape``, ``exemplar_size`` and ``skipped_images`` as metainfo);
    ``pair_params``: the ``algorithm_keys`` present (``exemplar_corners`` K
    x 4 x 2, ``exemplar_flipped`` K, ``exemplar_augmentation`` K x 14,
    ``context_augmentation`` 14) as tensors beside the data sample, so that
    ``default_collate`` stacks each into one (B, ...) tensor, moved to the
    device in one copy by the pair synthesis, which then gives every data
    sample its rows.

    Args:
        algorithm_keys (Sequence[str]): The drawn parameters packed, when
            present. Defaults to the four above.
        meta_keys (Sequence[str]): Keys stored as metainfo. Defaults to
            :attr:`PackInputs.DEFAULT_META_KEYS`.
    """

    def __init__(self,
                 algorithm_keys: Sequence[str] = ('exemplar_corners',
                                                  'exemplar_flipped',
                                                  'exemplar_augmentation',
                                                  'context_augmentation'),
                 meta_keys: Sequence[str] = PackInputs.DEFAULT_META_KEYS):
        super().__init__(
            input_key=None,  # the input is formatted below, once
            algorithm_keys=algorithm_keys,
            meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        if 'search' not in results:
            raise ValueError(
                'PackCIMInputs packs the search image and drawn parameters '
                'of DrawCorrelationalPair; put DrawCorrelationalPair before '
                'it in the pipeline.')
        tensors = {
            key: to_tensor(results[key])
            for key in self.algorithm_keys if key in results
        }
        fields = {k: v for k, v in results.items() if k not in tensors}
        samples = super().transform(fields)['data_samples']
        samples.set_metainfo(
            dict(img_shape=results['img_shape'],
                 exemplar_size=results['exemplar_size']))
        if 'skipped_images' in results:
            samples.set_metainfo(
                dict(skipped_images=results['skipped_images']))
        return dict(inputs=self.format_input([results['search']]),
                    data_samples=samples, **{PAIR_PARAMS: tensors})

    def __repr__(self) -> str:
        repr_str = self.__class__.__name__
        repr_str += f'(algorithm_keys={self.algorithm_keys}, '
        repr_str += f'meta_keys={self.meta_keys})'
        return repr_str
