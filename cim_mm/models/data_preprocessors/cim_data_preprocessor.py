"""CIM's data preprocessor: pairs built (or completed) on the device."""
import torch
from mmpretrain.models.utils.data_preprocessor import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS

from cim_mm.datasets.transforms.formatting import PAIR_PARAMS
from ..utils.correlation_maps import rasterize_correlation_maps
from ..utils.pair_synthesis import give_rows, synthesise_batch


@MODELS.register_module()
class CIMDataPreprocessor(SelfSupDataPreprocessor):
    """``SelfSupDataPreprocessor`` that builds CIM pairs on the device.

    Two inputs are accepted:

    - From :class:`DrawCorrelationalPair`: inputs ``[search (B, 3, S, S)]``
      uint8 and ``pair_params`` with the batch tensors ``exemplar_corners``
      (B, K, 4, 2), ``exemplar_flipped`` (B, K), ``exemplar_augmentation``
      (B, K, 14) and, when drawn, ``context_augmentation`` (B, 14) (stacked
      by ``default_collate`` from :class:`PackCIMInputs`); data samples
      with metainfo ``img_shape`` (m, m) and ``exemplar_size`` n. Each
      batch tensor is moved in one (non-blocking when pinned) copy, then
      :func:`~cim_mm.models.utils.pair_synthesis.synthesise_batch` builds
      the pairs on the device (contexts, augmented and flipped exemplars,
      maps) without host-device synchronisation.
    - Pairs already built (``pair_synthesis_collate`` in the workers, or a
      caller's own): inputs ``[context (B, 3, m, m), K x exemplar (B, 3,
      n, n)]``; samples without ``corr_maps`` get them rasterised here
      from their ``exemplar_corners``.

    The maps never cross the bus. Output as ``SelfSupDataPreprocessor``: ``[context,
    exemplar_0, ..., exemplar_{K-1}]`` normalised float (RGB when
    ``to_rgb``: a channel flip on the device) and the data samples, each
    with its own rows of the pair parameters (views of the batch tensors)
    and ``corr_maps``. The batch is cast to the device once.

    Args: as :class:`mmpretrain.models.SelfSupDataPreprocessor`;
    ``non_blocking=True`` overlaps the copies of a pinned batch.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.build_pairs(data)
        inputs = [self._normalize(x) for x in data['inputs']]
        return dict(inputs=inputs, data_samples=data['data_samples'])

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) BGR -> float, RGB if configured, normalised."""
        if self._channel_conversion:
            x = x.flip(1)  # on the device (no host-built index list)
        x = x.float()
        if self._enable_normalize:
            x = (x - self.mean) / self.std
        return x

    def build_pairs(self, data: dict) -> dict:
        """A packed batch on the device with its pair pixels (BGR, not
        normalised) and data samples with their parameters and maps:
        ``[search]`` batches are synthesised, ``[context, exemplars]``
        batches keep their pixels."""
        params = data.get(PAIR_PARAMS)
        data = self.cast_data(
            {key: value for key, value in data.items() if key != PAIR_PARAMS})
        if params is not None:
            return synthesise_batch(data, self.cast_data(params))
        samples = data.get('data_samples')
        if samples and 'corr_maps' not in samples[0]:
            corners = torch.stack([s.exemplar_corners for s in samples])
            maps = rasterize_correlation_maps(corners,
                                              data['inputs'][0].shape[-1])
            give_rows(samples, dict(corr_maps=maps))
        return data
