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

    Input, either:

    - ``[search (B, 3, S, S)]`` uint8 with ``pair_params`` (the batch
      tensors packed by :class:`PackCIMInputs`): each tensor is moved in one
      (non-blocking when pinned) copy, then
      :func:`~cim_mm.models.utils.pair_synthesis.synthesise_batch` builds
      contexts, augmented exemplars and maps on the device, without
      host-device sync;
    - or pairs already built (by ``pair_synthesis_collate`` or a caller):
      ``[context (B, 3, m, m), K x exemplar (B, 3, n, n)]``; samples
      without ``corr_maps`` get them rasterised from their
      ``exemplar_corners``.

    Output as ``SelfSupDataPreprocessor``: ``[context, exemplar_0, ...,
    exemplar_{K-1}]`` normalised float (RGB when ``to_rgb``) and the data
    samples, each with its rows of the pair parameters and ``corr_maps``.

    Args: as :class:`mmpretrain.models.SelfSupDataPreprocessor`.
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
