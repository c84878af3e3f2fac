"""Keep an optimizer step with a non-finite loss or gradients off the
weights and the optimizer state, decided on the device."""
import logging
from typing import List, Optional

import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.logging import print_log


def supports_found_inf(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step()`` honours a ``found_inf`` attribute (as
    ``GradScaler`` sets it): torch's fused Adam, AdamW, SGD and Adagrad
    (``fused=True``) skip the update, and roll their step count back, where
    it is 1, without the host reading it. Checked per parameter group: a
    state dict saved by a non-fused optimizer turns ``fused`` off when it
    is loaded (a resume of a run started without it)."""
    return bool(getattr(optimizer, '_step_supports_amp_scaling', False)) and \
        all(group.get('fused') for group in optimizer.param_groups)


class NonFiniteStepGuard:
    """Masks each optimizer step whose loss or gradients are not finite.

    Attached to a model and its torch optimizer, it watches:

    - the model's loss outputs (a forward hook: every value of the output
      dict whose key contains ``'loss'``, as mmengine's ``parse_losses``
      sums them; over all micro-batches of a gradient accumulation);
    - the gradients, just before ``optimizer.step()`` (a step pre-hook, so
      after mmengine's gradient clipping; a NaN or Inf gradient survives
      clipping as a NaN).

    Its verdict is a 0-dim float tensor on the parameters' device, 1.0 for
    a step to skip (all-reduced with MAX across ranks, so every replica
    skips the same steps). How the step is skipped:

    - **device mode** (an optimizer that takes ``found_inf``, e.g.
      ``AdamW(fused=True)``): the verdict is handed to the optimizer as its
      ``found_inf``; the fused kernel leaves parameters, ``exp_avg``,
      ``exp_avg_sq`` and ``step`` untouched where it is 1. No host sync.
    - **host mode** (any other optimizer, e.g. the default foreach AdamW):
      the verdict is read on the host (one sync per optimizer step) and a
      skipped step's gradients are set to None, so ``step()`` changes
      nothing (torch's optimizers pass over parameters without gradient).

    Under a loss scaler (mmengine's ``AmpOptimWrapper``), gradient
    overflow is the scaler's to handle and not counted here: with a
    ``found_inf`` already set by ``GradScaler``, the guard checks the loss
    only and hands the optimizer the larger of the two flags.

    After each optimizer step, :attr:`skipped` (the guard's own verdict) and
    :attr:`step_skipped` (whether the update was withheld for any reason,
    the scaler's included) hold that step's flags (device tensors); both
    are None when no step ran. :meth:`end_step` returns and clears them.

    Not guarded: buffers a forward pass updates (BatchNorm running
    statistics): they are written before any loss exists.
    """

    def __init__(self) -> None:
        self.skipped: Optional[torch.Tensor] = None
        self.step_skipped: Optional[torch.Tensor] = None
        self._loss_ok: Optional[torch.Tensor] = None
        self._optimizer: Optional[torch.optim.Optimizer] = None
        self._handles: List = []
        self._installed = False  # found_inf set on the optimizer by us
        self._scaler_found_inf = None

    @property
    def device_mode(self) -> bool:
        """True when the optimizer masks the update itself (no sync)."""
        return self._optimizer is not None and supports_found_inf(
            self._optimizer)

    def attach(self, model: nn.Module,
               optimizer: torch.optim.Optimizer) -> None:
        """Watch ``model``'s loss outputs and guard ``optimizer``'s steps."""
        if self._handles:
            raise RuntimeError('NonFiniteStepGuard: already attached; call '
                               'detach() first.')
        self._optimizer = optimizer
        self._handles = [
            model.register_forward_hook(self._record_loss),
            optimizer.register_step_pre_hook(self._before_step),
            optimizer.register_step_post_hook(self._after_step),
        ]
        if not self.device_mode:
            print_log(
                f'NonFiniteStepGuard: {type(optimizer).__name__} does not '
                'take found_inf, so the guard reads its flag on the host at '
                'every optimizer step (one host-device sync each); a fused '
                'optimizer (e.g. optimizer.fused=True for AdamW) masks the '
                'step on the device instead.',
                logger='current', level=logging.WARNING)

    def detach(self) -> None:
        """Remove the hooks; the flags stay readable."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._optimizer = None

    def end_step(self):
        """``(skipped, step_skipped)`` of the last optimizer step (device
        tensors, or None when no step ran since the last call); clears them
        and the loss record for the next step."""
        flags = (self.skipped, self.step_skipped)
        self.skipped = self.step_skipped = None
        self._loss_ok = None
        return flags

    # hooks -----------------------------------------------------------------

    def _record_loss(self, module, args, output) -> None:
        """Forward hook: fold the finiteness of a loss dict into the record
        (other outputs, e.g. predictions, are passed over)."""
        if not isinstance(output, dict):
            return
        values = []
        for key, value in output.items():
            if 'loss' not in key:
                continue
            values.extend(value if isinstance(value, (list, tuple)) else
                          [value])
        finite = [torch.isfinite(v.detach()).all() for v in values
                  if torch.is_tensor(v)]
        if not finite:
            return
        ok = torch.stack(finite).all()
        self._loss_ok = ok if self._loss_ok is None else (self._loss_ok
                                                          & ok)

    def _before_step(self, optimizer, args, kwargs) -> None:
        params = [p for group in optimizer.param_groups
                  for p in group['params'] if p.grad is not None]
        if not params:
            return
        device = params[0].device
        ok = torch.ones((), dtype=torch.bool, device=device)
        if self._loss_ok is not None:
            ok = ok & self._loss_ok.to(device)
        scaler_found_inf = getattr(optimizer, 'found_inf', None)
        if scaler_found_inf is None:  # no loss scaler: check the gradients
            norms = torch._foreach_norm([p.grad for p in params])
            ok = ok & torch.isfinite(torch.stack(norms)).all()
        skipped = (~ok).float()
        if dist.is_available() and dist.is_initialized() and \
                dist.get_world_size() > 1:
            dist.all_reduce(skipped, op=dist.ReduceOp.MAX)
        self.skipped = skipped
        if not supports_found_inf(optimizer):
            self.step_skipped = skipped
            if skipped.item():  # host mode: the one sync per step
                for p in params:
                    p.grad = None
            return
        if scaler_found_inf is None:
            self.step_skipped = skipped
        else:
            self.step_skipped = torch.maximum(
                scaler_found_inf.to(skipped.device), skipped)
        self._scaler_found_inf = scaler_found_inf
        self._installed = True
        optimizer.found_inf = self.step_skipped

    def _after_step(self, optimizer, args, kwargs) -> None:
        if not self._installed:
            return
        if self._scaler_found_inf is None:
            del optimizer.found_inf
        else:  # GradScaler deletes its own attribute after step()
            optimizer.found_inf = self._scaler_found_inf
        self._installed = False
        self._scaler_found_inf = None
