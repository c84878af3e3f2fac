"""Skip training steps with a non-finite loss, count them, log them, and
stop a run that keeps producing them."""
import logging
from typing import List, Optional, Tuple

import torch
from mmengine.hooks import Hook, LoggerHook
from mmengine.logging import print_log
from mmengine.optim import OptimWrapperDict

from mmpretrain.registry import HOOKS

from ..optimizers.nonfinite_step_guard import NonFiniteStepGuard

#: Message-hub runtime info (not resumed): the last optimizer step's
#: ``step_skipped`` flag (a 0-dim device tensor), or None when no step ran
#: in the iteration. ``TargetEMAHook`` masks the EMA update with it.
STEP_SKIPPED_INFO = 'nonfinite_guard/step_skipped'


class NonFiniteTrainingError(RuntimeError):
    """Raised by :class:`NonFiniteGuardHook` after ``max_consecutive``
    non-finite optimizer steps in a row."""


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Keep non-finite losses and gradients off the weights, the optimizer
    state and the EMA target, without a per-step host sync.

    Attaches a :class:`~cim_mm.engine.optimizers.NonFiniteStepGuard` to the
    runner's model and optimizer before training: an optimizer step whose
    loss or gradients hold a NaN or Inf is withheld on the device (with an
    optimizer that takes ``found_inf``: ``AdamW(fused=True)``, as the
    shipped configs use; any other costs one sync per step, see the guard),
    and ``TargetEMAHook`` leaves the target encoder as it is for that step.

    What still advances on a skipped step: mmengine's iteration counter,
    the LR (``ParamSchedulerHook``) and EMA momentum schedules (functions of
    the iteration), and the data (the batch is consumed, not retried). What
    does not: parameters, ``exp_avg``/``exp_avg_sq`` and the optimizer's
    ``step`` (so its bias correction), the target encoder.

    The skip flags stay on the device until every ``interval`` iterations
    (default: the ``LoggerHook``'s interval), a checkpoint save and the end
    of training, when they are read in one transfer and each skip is logged
    (a WARNING naming the iterations, numbered as the log's
    ``Iter(train) [i/n]``). The number of skipped steps and the current run
    of consecutive ones travel in the checkpoint
    (``checkpoint['nonfinite_guard']``), so a resumed run counts on.

    After ``max_consecutive`` skipped steps in a row the run stops with
    :class:`NonFiniteTrainingError`, found at the next read (at most
    ``interval`` iterations later) and before a checkpoint is written: the
    weights never took a non-finite step, so the latest checkpoint holds
    the last good state and ``--resume`` continues from it once the cause
    (learning rate, data) is fixed.

    Args:
        max_consecutive (int): Non-finite optimizer steps in a row that stop
            the run. Defaults to 10.
        interval (int, optional): Iterations between reads of the flags.
            Defaults to None (the LoggerHook's interval, else 50).
    """

    # After RuntimeInfoHook (VERY_HIGH), before TargetEMAHook (ABOVE_NORMAL),
    # which reads STEP_SKIPPED_INFO, and CheckpointHook (VERY_LOW).
    priority = 'HIGH'

    def __init__(self, max_consecutive: int = 10,
                 interval: Optional[int] = None) -> None:
        if not isinstance(max_consecutive, int) or max_consecutive < 1:
            raise ValueError('NonFiniteGuardHook: max_consecutive must be a '
                             f'positive int, got {max_consecutive!r}.')
        if interval is not None and (not isinstance(interval, int)
                                     or interval < 1):
            raise ValueError('NonFiniteGuardHook: interval must be a positive'
                             f' int or None, got {interval!r}.')
        self.max_consecutive = max_consecutive
        self.interval = interval
        self.guard = NonFiniteStepGuard()
        self.skipped_steps = 0  # in all, this run and the runs it resumes
        self.consecutive = 0  # skipped steps in a row up to the last read
        # (iteration, flag tensor) of the optimizer steps since the last read
        self._pending: List[Tuple[int, torch.Tensor]] = []

    def before_train(self, runner) -> None:
        optim_wrapper = runner.optim_wrapper
        if isinstance(optim_wrapper, OptimWrapperDict):
            raise TypeError(
                'NonFiniteGuardHook guards one optimizer; this run has '
                f'{len(optim_wrapper)} ({", ".join(optim_wrapper.keys())}). '
                'Remove the hook from custom_hooks.')
        if self.interval is None:
            loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
            self.interval = loggers[0].interval if loggers else 50
        # The model wrapper's forward returns the losses too (DDP).
        self.guard.attach(runner.model, optim_wrapper.optimizer)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        runner.message_hub.update_info(STEP_SKIPPED_INFO, None,
                                       resumed=False)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if runner.optim_wrapper.should_update():
            skipped, step_skipped = self.guard.end_step()
            runner.message_hub.update_info(STEP_SKIPPED_INFO, step_skipped,
                                           resumed=False)
            if skipped is not None:
                self._pending.append((runner.iter + 1, skipped))
        if self.every_n_train_iters(runner, self.interval):
            self._read_flags(runner)

    def after_train(self, runner) -> None:
        self._read_flags(runner)
        self.guard.detach()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self._read_flags(runner)  # raises before a write after K in a row
        checkpoint['nonfinite_guard'] = dict(
            skipped_steps=self.skipped_steps, consecutive=self.consecutive)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('nonfinite_guard')
        if state is not None:
            self.skipped_steps = int(state['skipped_steps'])
            self.consecutive = int(state['consecutive'])

    def _read_flags(self, runner) -> None:
        """Bring the pending flags to the host (one transfer), log the
        skipped steps and stop after ``max_consecutive`` in a row."""
        if not self._pending:
            return
        iters = [it for it, _ in self._pending]
        flags = torch.stack([f for _, f in self._pending]).cpu().tolist()
        self._pending = []
        skipped_iters = []
        for it, flag in zip(iters, flags):
            if not flag:
                self.consecutive = 0
                continue
            self.skipped_steps += 1
            self.consecutive += 1
            skipped_iters.append(it)
            if self.consecutive >= self.max_consecutive:
                self._log(skipped_iters)
                raise NonFiniteTrainingError(
                    f'{self.consecutive} optimizer steps in a row (the last '
                    f'at iteration {it}) had a non-finite loss or gradients; '
                    'NonFiniteGuardHook stopped '
                    f'the run (max_consecutive={self.max_consecutive}). None '
                    'of them reached the weights, the optimizer state or the'
                    ' EMA target, so the latest checkpoint in '
                    f'{runner.work_dir} holds the last good state. Look for '
                    'the cause (a learning rate too high for the batch size, '
                    'broken images, a bf16/fp16 overflow), then continue '
                    'with --resume.')
        self._log(skipped_iters)

    def _log(self, skipped_iters: List[int]) -> None:
        if not skipped_iters:
            return
        print_log(
            'Non-finite loss or gradients at iteration(s) '
            f'{", ".join(map(str, skipped_iters))}: optimizer step(s) and '
            f'EMA update(s) skipped ({self.skipped_steps} skipped in all, '
            f'{self.consecutive} in a row now).',
            logger='current', level=logging.WARNING)
