"""CIM's data preprocessor: pairs built (or completed) on the device."""
import torch
from mmpretrain.models.utils.data_preprocessor import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS

from ..utils.correlation_maps import rasterize_correlation_maps
from ..utils.pair_synthesis import resize_context, sample_exemplars
from ..utils.photometric_ops import apply_photometric


@MODELS.register_module()
class CIMDataPreprocessor(SelfSupDataPreprocessor):
    """``SelfSupDataPreprocessor`` that builds CIM pairs on the device.

    Two inputs are accepted:

    - From :class:`CorrelationalPairParams` (the shipped configs): inputs
      ``[search (B, 3, S, S)]`` uint8 and data samples with
      ``exemplar_corners`` (K, 4, 2), ``exemplar_flipped`` (K,),
      ``exemplar_photometric`` (K, P) and metainfo ``img_shape`` (m, m),
      ``exemplar_size`` n. On the device, batched: the context (the search
      image resized to m, antialiased), the K exemplars (``grid_sample`` of
      each rotated rectangle, 3 x 3 samples per pixel averaged), their
      photometric augmentation with the drawn parameters, their flips, and
      the (K, m, m) uint8 correlation maps.
    - From :class:`CorrelationalCrop`: inputs ``[context (B, 3, m, m),
      K x exemplar (B, 3, n, n)]``; samples packed without ``corr_maps``
      get them rasterised here from ``exemplar_corners``.

    Either way the maps are the CPU transform's, bit for bit, and never
    cross the bus. Output as ``SelfSupDataPreprocessor``: ``[context,
    exemplar_0, ..., exemplar_{K-1}]`` normalised float (RGB when
    ``to_rgb``) and the data samples with ``corr_maps``.

    Args: as :class:`mmpretrain.models.SelfSupDataPreprocessor`;
    ``non_blocking=True`` overlaps the copies of a pinned batch.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(self.build_pairs(data), training)
        samples = data['data_samples']
        missing = [s for s in samples or () if 'corr_maps' not in s]
        if missing:
            size = data['inputs'][0].shape[-1]
            corners = torch.stack([s.exemplar_corners for s in missing])
            maps = rasterize_correlation_maps(corners, size)
            for sample, sample_maps in zip(missing, maps):
                sample.set_data(dict(corr_maps=sample_maps))
        return data

    def build_pairs(self, data: dict) -> dict:
        """A packed batch with its pair pixels (BGR, not normalised):
        ``[search]`` batches are synthesised on the device, ``[context,
        exemplars]`` batches are returned as they are (``forward`` casts
        them)."""
        if len(data['inputs']) == 1 and data['data_samples']:
            return self._synthesise(self.cast_data(data))
        return data

    @staticmethod
    def _synthesise(data: dict) -> dict:
        """[search] + drawn parameters -> [context, K x exemplar] (BGR,
        integer-valued float) and samples with maps."""
        samples = data['data_samples']
        search = data['inputs'][0].float()
        context_size = samples[0].metainfo['img_shape'][0]
        exemplar_size = samples[0].metainfo['exemplar_size']
        corners = torch.stack([s.exemplar_corners for s in samples])
        batch, num = corners.shape[:2]
        exemplars = sample_exemplars(search, corners, context_size,
                                     exemplar_size)
        params = torch.stack([s.exemplar_photometric for s in samples])
        exemplars = apply_photometric(
            exemplars.flatten(0, 1).to(torch.uint8), params.flatten(0, 1))
        flipped = torch.stack([s.exemplar_flipped for s in samples])
        exemplars = torch.where(flipped.flatten()[:, None, None, None],
                                exemplars.flip(-1), exemplars)
        exemplars = exemplars.reshape(batch, num, *exemplars.shape[1:])
        maps = rasterize_correlation_maps(corners, context_size)
        for sample, sample_maps in zip(samples, maps):
            sample.set_data(dict(corr_maps=sample_maps))
        context = resize_context(search, context_size)
        return dict(inputs=[context, *exemplars.unbind(1)],
                    data_samples=samples)
