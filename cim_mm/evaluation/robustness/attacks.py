"""White-box L-inf attacks on pixel values: FGSM and PGD.

FGSM (Goodfellow et al., ICLR 2015): ``x + eps * sign(grad_x loss)``.
PGD (Madry et al., ICLR 2018): from ``x`` (or a uniform random point of the
eps-ball), ``steps`` times ``x <- Proj_ball(x + step_size * sign(grad_x
loss))``. The loss is the cross-entropy of the true class; every iterate is
clipped to the valid pixel range ``[lower, upper]``.

``forward`` maps (N, C, H, W) pixels to (N, K) logits, e.g. a
:class:`~.pixel_space.PixelSpaceClassifier`.
"""
from typing import Callable, Optional

import torch
import torch.nn.functional as F

__all__ = ['input_gradient', 'fgsm', 'pgd']


def input_gradient(forward: Callable, pixels: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy w.r.t. ``pixels`` (N, C, H, W).

    Summed, not averaged: a sample's gradient does not depend on the batch
    it is in.
    """
    pixels = pixels.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(forward(pixels), labels, reduction='sum')
        grad, = torch.autograd.grad(loss, pixels)
    return grad


def fgsm(forward: Callable,
         pixels: torch.Tensor,
         labels: torch.Tensor,
         epsilon: float,
         lower: float = 0.,
         upper: float = 255.) -> torch.Tensor:
    """One signed-gradient step of size ``epsilon``, clipped to the range.

    Args:
        forward (Callable): (N, C, H, W) pixels -> (N, K) logits.
        pixels (Tensor): (N, C, H, W) clean pixels.
        labels (Tensor): (N, ) true classes.
        epsilon (float): L-inf budget, in pixel units.
        lower, upper (float): The valid pixel range.

    Returns:
        Tensor: (N, C, H, W) adversarial pixels (detached).
    """
    grad = input_gradient(forward, pixels, labels)
    return (pixels.detach() + epsilon * grad.sign()).clamp(lower,
                                                           upper).detach()


def pgd(forward: Callable,
        pixels: torch.Tensor,
        labels: torch.Tensor,
        epsilon: float,
        step_size: float,
        steps: int,
        random_start: bool = True,
        noise: Optional[torch.Tensor] = None,
        lower: float = 0.,
        upper: float = 255.) -> torch.Tensor:
    """Projected gradient ascent in the L-inf ball of radius ``epsilon``.

    Args:
        forward, pixels, labels, epsilon, lower, upper: as :func:`fgsm`.
        step_size (float): Size of each signed-gradient step, pixel units.
        steps (int): Number of steps.
        random_start (bool): Start at ``pixels + epsilon * noise``.
        noise (Tensor, optional): (N, C, H, W) values in [-1, 1] for the
            random start; default ``uniform(-1, 1)`` from torch's RNG.

    Returns:
        Tensor: (N, C, H, W) adversarial pixels (detached).
    """
    clean = pixels.detach()
    adv = clean.clone()
    if random_start:
        if noise is None:
            noise = torch.empty_like(clean).uniform_(-1, 1)
        adv = (clean + epsilon * noise.to(clean)).clamp(lower, upper)
    for _ in range(steps):
        adv = adv + step_size * input_gradient(forward, adv, labels).sign()
        adv = torch.min(torch.max(adv, clean - epsilon), clean + epsilon)
        adv = adv.clamp(lower, upper)
    return adv.detach()
