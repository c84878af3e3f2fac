"""A classifier as a differentiable function of its input pixels."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['PixelSpaceClassifier']


class PixelSpaceClassifier(nn.Module):
    """``pixels -> logits`` through the model's own data preprocessor steps.

    What mmpretrain's ``ClsDataPreprocessor`` (or mmengine's
    ``ImgDataPreprocessor``) does to a batch, split at the pixel values:
    :meth:`pixels` converts the loaded images (channel order, float) and
    stacks them; :meth:`forward` normalises (``(x - mean) / std``), pads,
    and runs the model (``mode='tensor'``: the head's logits). An attack
    perturbs the output of :meth:`pixels`, in the pixel range of the loaded
    images (0-255 for mmpretrain's pipelines), and gets gradients through
    the normalisation.

    Args:
        model (nn.Module): An mmpretrain classifier (``ImageClassifier``)
            with such a data preprocessor; put in eval mode by the caller.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        pre = getattr(model, 'data_preprocessor', None)
        if not hasattr(pre, '_enable_normalize'):
            raise TypeError(
                f'{type(model).__name__} has no ClsDataPreprocessor-like '
                f'data preprocessor (got {type(pre).__name__}); the attacks '
                'need mmpretrain\'s ClsDataPreprocessor or mmengine\'s '
                'ImgDataPreprocessor to find the pixel values.')
        self.model = model
        self.preprocessor = pre
        self.to_rgb = bool(
            getattr(pre, 'to_rgb', getattr(pre, '_channel_conversion',
                                           False)))

    @property
    def device(self) -> torch.device:
        return self.preprocessor.device

    def pixels(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """(C, H, W) images (the pipeline's packed ``inputs``) -> (N, C, H,
        W) float pixels on the model's device, in the model's channel order.
        """
        if isinstance(images, torch.Tensor):
            images = list(images)
        sizes = {tuple(image.shape) for image in images}
        if len(sizes) != 1:
            raise ValueError(
                f'The images of a batch differ in size ({sorted(sizes)}); '
                'the test pipeline must end with a fixed-size crop.')
        batch = torch.stack(images).to(self.device).float()
        if self.to_rgb and batch.size(1) == 3:
            batch = batch.flip(1)
        return batch

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) pixels -> (N, K) logits, differentiable."""
        pre = self.preprocessor
        inputs = pixels
        if pre._enable_normalize:
            inputs = (inputs - pre.mean) / pre.std
        divisor = getattr(pre, 'pad_size_divisor', 1)
        if divisor > 1:
            h, w = inputs.shape[-2:]
            inputs = F.pad(inputs, (0, -w % divisor, 0, -h % divisor),
                           value=getattr(pre, 'pad_value', 0))
        logits = self.model(inputs, mode='tensor')
        if isinstance(logits, (tuple, list)):
            logits = logits[-1]
        return logits
