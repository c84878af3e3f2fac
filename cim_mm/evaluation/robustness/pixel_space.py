"""A classifier as a differentiable function of its input pixels."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['PixelSpaceClassifier']


class PixelSpaceClassifier(nn.Module):
    """``pixels -> logits`` through the model's own data preprocessor steps.

    What mmpretrain's ``ClsDataPreprocessor`` does to a batch, split at the
    pixel values: :meth:`pixels` converts the loaded images (channel order,
    float) and stacks them; :meth:`forward` normalises (``(x - mean) /
    std``), pads, and runs the model (``mode='tensor'``: the head's
    logits). An attack perturbs the output of :meth:`pixels`, in the pixel
    range of the loaded images (0-255 for mmpretrain's pipelines), and gets
    gradients through the normalisation.

    The steps are read from the preprocessor's public state: its ``to_rgb``,
    ``pad_size_divisor`` and ``pad_value`` attributes, and its ``mean`` /
    ``std`` buffers, which ``ClsDataPreprocessor`` registers exactly when
    its config gives ``mean`` and ``std`` (normalisation on).

    Args:
        model (nn.Module): An mmpretrain classifier (``ImageClassifier``)
            with a ``ClsDataPreprocessor`` (or one with the same public
            attributes); put in eval mode by the caller.

    Raises:
        TypeError: the model has no such data preprocessor (mmengine's
            ``ImgDataPreprocessor`` keeps its channel conversion private).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        pre = getattr(model, 'data_preprocessor', None)
        missing = [
            name for name in ('to_rgb', 'pad_size_divisor', 'pad_value')
            if not hasattr(pre, name)
        ]
        if not isinstance(pre, nn.Module) or missing:
            raise TypeError(
                f'{type(model).__name__} has no ClsDataPreprocessor-like '
                f'data preprocessor (got {type(pre).__name__}); the attacks '
                'need mmpretrain\'s '
                'ClsDataPreprocessor (ImageClassifier\'s default: '
                'data_preprocessor=dict(mean=..., std=..., to_rgb=...)) to '
                'find the pixel values.')
        self.model = model
        self.preprocessor = pre
        self.to_rgb = bool(pre.to_rgb)
        buffers = dict(pre.named_buffers(recurse=False))
        self.normalize = 'mean' in buffers and 'std' in buffers

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
        if self.normalize:
            inputs = (inputs - pre.mean) / pre.std
        divisor = pre.pad_size_divisor
        if divisor > 1:
            h, w = inputs.shape[-2:]
            inputs = F.pad(inputs, (0, -w % divisor, 0, -h % divisor),
                           value=pre.pad_value)
        logits = self.model(inputs, mode='tensor')
        if isinstance(logits, (tuple, list)):
            logits = logits[-1]
        return logits
