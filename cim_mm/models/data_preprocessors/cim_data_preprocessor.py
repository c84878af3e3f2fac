"""CIM's data preprocessor: the batch on the device, maps built there."""
import torch
from mmpretrain.models.utils.data_preprocessor import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS

from ..utils.correlation_maps import rasterize_correlation_maps


@MODELS.register_module()
class CIMDataPreprocessor(SelfSupDataPreprocessor):
    """``SelfSupDataPreprocessor`` that rasterises the correlation maps on
    the device.

    Input: ``inputs`` = [context (B, 3, m, m), K x exemplar (B, 3, n, n)]
    uint8 and B data samples with ``exemplar_corners`` (K, 4, 2). Samples
    packed without ``corr_maps`` (``PackCIMInputs(algorithm_keys=(
    'exemplar_corners', 'exemplar_flipped'))``, the shipped configs) get
    their (K, m, m) uint8 maps here, built from the corners where the batch
    is: the same maps as ``CorrelationalCrop`` computes, without copying
    B x K x m x m bytes to the device. Samples that carry maps keep them.
    Output as ``SelfSupDataPreprocessor``: normalised float inputs (RGB when
    ``to_rgb``) and the data samples.

    Args: as :class:`mmpretrain.models.SelfSupDataPreprocessor`;
    ``non_blocking=True`` overlaps the copies of a pinned batch.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        samples = data['data_samples']
        missing = [s for s in samples or () if 'corr_maps' not in s]
        if missing:
            size = data['inputs'][0].shape[-1]
            corners = torch.stack([s.exemplar_corners for s in missing])
            maps = rasterize_correlation_maps(corners, size)
            for sample, sample_maps in zip(missing, maps):
                sample.set_data(dict(corr_maps=sample_maps))
        return data
