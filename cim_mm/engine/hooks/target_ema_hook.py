"""Momentum (EMA) update of CIM's target encoder from its online encoder."""
import math

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS

from .nonfinite_guard_hook import STEP_SKIPPED_INFO


@HOOKS.register_module()
class TargetEMAHook(Hook):
    """Update the target encoder after every real optimizer step.

    ``xi <- m * xi + (1 - m) * theta`` with the momentum ``m`` rising from
    ``momentum`` to ``end_momentum`` over training, as in the CIM release::

        m = end - (end - momentum) * (cos(pi * iter / max_iters) + 1) / 2

    Under gradient accumulation the update runs once per optimizer step (on
    the iteration whose ``optim_wrapper.should_update()`` is true), not once
    per micro-batch. The hook keeps no state of its own: the target weights
    live in the model's state dict and ``m`` is a function of the iteration,
    so a resumed run continues exactly.

    With :class:`NonFiniteGuardHook`, an optimizer step it withheld (a
    non-finite loss or gradients) withholds the EMA update too: the hook
    passes the step's device flag on to ``update_target(momentum, skip)``,
    which keeps the target as it is without a host sync.

    Not mmpretrain's ``CosineEMA``: it wraps the encoder as an averaged model
    (keys ``target_backbone.module.*`` plus ``steps``, which would break every
    CIM checkpoint and the converter's ``target_backbone.*``), and its
    ``momentum`` is the weight of the online parameters (``1 - m`` here).

    Args:
        momentum (float): Momentum at the start of training. Defaults to 0.99.
        end_momentum (float): Momentum at the end of training. Defaults to 1.0.
        schedule (str): ``'cosine'`` (rise as above) or ``'constant'``
            (always ``momentum``). Defaults to ``'cosine'``.
    """

    priority = 'ABOVE_NORMAL'
    SCHEDULES = ('cosine', 'constant')

    def __init__(self,
                 momentum: float = 0.99,
                 end_momentum: float = 1.0,
                 schedule: str = 'cosine') -> None:
        for name, value in (('momentum', momentum),
                            ('end_momentum', end_momentum)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'TargetEMAHook: {name} must lie in [0, 1], '
                                 f'got {value}.')
        if schedule not in self.SCHEDULES:
            raise ValueError(f'TargetEMAHook: schedule must be one of '
                             f'{self.SCHEDULES}, got {schedule!r}.')
        self.momentum = momentum
        self.end_momentum = end_momentum
        self.schedule = schedule

    def get_momentum(self, cur_iter: int, max_iters: int) -> float:
        """Momentum for the optimizer step taken at iteration ``cur_iter``."""
        if self.schedule == 'constant' or max_iters <= 0:
            return self.momentum
        progress = min(cur_iter / max_iters, 1.0)
        return self.end_momentum - (self.end_momentum - self.momentum) * (
            math.cos(math.pi * progress) + 1) / 2

    @staticmethod
    def _algorithm(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        model = self._algorithm(runner)
        if not callable(getattr(model, 'update_target', None)):
            raise TypeError(
                f'TargetEMAHook needs a model with an `update_target(momentum)`'
                f' method (e.g. CIM), but the model is {type(model).__name__}.'
                ' Remove the hook from `custom_hooks` or use a CIM model.')

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if not runner.optim_wrapper.should_update():
            return  # a gradient-accumulation micro-batch: no optimizer step
        momentum = self.get_momentum(runner.iter, runner.max_iters)
        skip = runner.message_hub.get_info(STEP_SKIPPED_INFO)
        if skip is None:  # no guard, or no optimizer step this iteration
            self._algorithm(runner).update_target(momentum)
        else:
            self._algorithm(runner).update_target(momentum, skip=skip)
        runner.message_hub.update_scalar('train/target_momentum', momentum)
