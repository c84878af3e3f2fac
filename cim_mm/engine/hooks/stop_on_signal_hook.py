"""Stop training on a signal (Slurm's warning, torchrun's SIGTERM) with one
checkpoint saved, so that ``--resume`` continues from where it stopped."""
import atexit
import logging
import multiprocessing
import os
import os.path as osp
import signal

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from cim_mm.checkpoint.atomic_backend import atomic_backend_args
from cim_mm.checkpoint.latest import write_pointer
from cim_mm.engine.runners.worker_signals import \
    keep_signal_handlers_in_workers

__all__ = ['StopOnSignalHook', 'TrainingStopped', 'train_until_stopped']

# Message-hub key of the last checkpoint this hook saved (the one it
# replaces next time).
SIGNAL_CHECKPOINT_KEY = 'signal_checkpoint'


class TrainingStopped(Exception):
    """Raised by :class:`StopOnSignalHook` after its checkpoint is saved.

    :func:`train_until_stopped` (``tools/train.py``) catches it, runs the
    ``after_train``/``after_run`` hooks and returns :attr:`exit_code` (128 +
    the signal number, the shell's convention for "ended by this signal":
    143 for SIGTERM, 138 for SIGUSR1).
    """

    def __init__(self, signum, iteration, checkpoint):
        self.signal_name = signal.Signals(signum).name
        self.iteration = iteration
        self.checkpoint = checkpoint
        self.exit_code = 128 + signum
        super().__init__(
            f'Training stopped by {self.signal_name} after iteration '
            f'{iteration}; checkpoint: {checkpoint}. Continue it with '
            '--resume.')


def train_until_stopped(runner):
    """``runner.train()``; the exit status: 0 when training is complete,
    :attr:`TrainingStopped.exit_code` when :class:`StopOnSignalHook`
    stopped it (after the hooks that end a run)."""
    try:
        runner.train()
    except TrainingStopped as stop:
        # What runner.train() would have run after its last iteration.
        runner.call_hook('after_train')
        runner.call_hook('after_run')
        return stop.exit_code
    return 0


def _signal_number(name):
    try:
        return int(getattr(signal, name) if isinstance(name, str) else name)
    except AttributeError:
        raise ValueError(
            f'StopOnSignalHook: unknown signal {name!r}; give names such '
            "as 'SIGTERM' or 'SIGUSR1'.") from None


# In mmengine's root registry: mmpretrain and mmseg configs find it.
@HOOKS.register_module()
class StopOnSignalHook(Hook):
    """On SIGTERM/SIGUSR1, finish the iteration, save, and stop every rank.

    The signal handlers are installed when the hook is built (before any
    DataLoader worker is forked); from ``before_train`` to the end of
    training they only record the signal (before and after, the signal has
    its previous effect, so e.g. a test run still ends on SIGTERM). After each
    iteration, single-process runs check the record; distributed runs agree
    every ``check_interval`` iterations with one all-reduce of one number, so
    every rank stops after the same iteration. Then ``iter_<n>.pth`` (model,
    optimizer, schedulers, message hub; ``meta.iter`` = n) is saved where
    the ``CheckpointHook`` saves (atomically when that is a local folder),
    ``last_checkpoint`` points at it, the previous checkpoint of this hook
    is deleted, and :class:`TrainingStopped` ends ``runner.train()``
    without fetching another batch.

    DataLoader workers forked from a process with this hook (the configs'
    ``mp_start_method='fork'``) ignore the signals while training runs
    (:mod:`cim_mm.compat.dataloader_worker_signals`), so a signal sent to
    the whole process group (torchrun does so for each rank, Slurm for each
    step) does not kill them under the main process, which still fetches
    batches until the ranks agree; it shuts them down at exit as usual, and
    once training has ended a signal makes them exit quietly.

    The delay from the signal to the exit is at most ``check_interval``
    iterations plus one checkpoint save: keep it below the grace period
    (torchrun: 30 s before SIGKILL; Slurm: the ``--signal=...@N`` lead).

    Args:
        signals (Sequence[str | int]): Signals that stop training. Defaults
            to ``('SIGTERM', 'SIGUSR1')``.
        check_interval (int): Iterations between the ranks' agreements in a
            distributed run. Defaults to 5.
    """

    priority = 'LOWEST'  # after the CheckpointHook of the same iteration

    def __init__(self, signals=('SIGTERM', 'SIGUSR1'), check_interval=5):
        if not isinstance(check_interval, int) or check_interval < 1:
            raise ValueError('StopOnSignalHook: check_interval must be a '
                             f'positive int, got {check_interval!r}.')
        self.signals = [_signal_number(s) for s in signals]
        if not self.signals:
            raise ValueError('StopOnSignalHook: give at least one signal '
                             "(e.g. signals=['SIGTERM']).")
        self.check_interval = check_interval
        self.received = None
        self._pid = os.getpid()
        # Shared with forked workers: whether the main process trains.
        self._training = multiprocessing.RawValue('b', 0)
        self._previous = {}
        self._install()
        atexit.register(self._end_of_training)
        start_method = multiprocessing.get_start_method(allow_none=True)
        if start_method not in (None, 'fork'):
            print_log(
                f"StopOnSignalHook: mp_start_method '{start_method}' does "
                'not fork: DataLoader workers do not inherit the signal '
                'handlers, and a signal sent to the process group kills '
                "them. Use env_cfg.mp_cfg.mp_start_method='fork'.",
                logger='current',
                level=logging.WARNING)

    def _install(self):
        keep_signal_handlers_in_workers(
            {signum: self._on_signal for signum in self.signals})
        try:
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum,
                                                       self._on_signal)
        except ValueError:  # signal handlers are set in the main thread only
            print_log(
                'StopOnSignalHook: the runner is not built in the main '
                'thread, so no signal handler is installed and a signal '
                'ends training at once.',
                logger='current',
                level=logging.WARNING)

    def _on_signal(self, signum, frame):
        if os.getpid() != self._pid:
            # A forked DataLoader worker: the main process stops it, unless
            # training has ended (then e.g. multiprocessing's exit handler
            # terminates it): exit quietly, as torch's own handler does.
            if not self._training.value:
                os._exit(0)
            return
        if not self._training.value:
            self._pass_on(signum, frame)
        elif self.received is None:
            self.received = signum

    def _pass_on(self, signum, frame):
        """Outside training: what the signal did before this hook."""
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def before_train(self, runner):
        self._training.value = 1

    def _end_of_training(self):
        self._training.value = 0

    def _restore(self):
        self._end_of_training()
        if os.getpid() != self._pid:
            return
        keep_signal_handlers_in_workers(
            {signum: None for signum in self.signals})
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, previous
                              if previous is not None else signal.SIG_DFL)
        self._previous = {}

    def _agreed_signal(self, runner):
        """The signal every rank stops on after this iteration, or 0."""
        local = self.received or 0
        if get_world_size() == 1:
            return local
        if (runner.iter + 1) % self.check_interval:
            return 0
        flag = torch.tensor([local], dtype=torch.int64)
        all_reduce(flag, op='max')
        return int(flag.item())

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        signum = self._agreed_signal(runner)
        if signum:
            self._stop(runner, signum)

    def _stop(self, runner, signum):
        iteration = runner.iter + 1
        checkpoint_hook = next(
            (h for h in runner.hooks if isinstance(h, CheckpointHook)), None)
        out_dir = getattr(checkpoint_hook, 'out_dir', None) or runner.work_dir
        filename = f'iter_{iteration}.pth'
        path = osp.join(out_dir, filename)
        hub = runner.message_hub
        previous = hub.get_info(SIGNAL_CHECKPOINT_KEY)
        if osp.basename(hub.get_info('last_ckpt') or '') == filename:
            saved = False  # the CheckpointHook saved this iteration already
        else:
            hub.update_info(SIGNAL_CHECKPOINT_KEY, path)
            runner.save_checkpoint(
                out_dir, filename, save_optimizer=True,
                save_param_scheduler=True,
                meta=dict(stopped_by=signal.Signals(signum).name),
                by_epoch=False,
                # Local: written atomically (remote: the path's backend).
                backend_args=atomic_backend_args(out_dir))
            saved = True
        if is_main_process():
            write_pointer(runner.work_dir, path)
            if saved and previous and previous != path and osp.isfile(
                    previous):
                os.remove(previous)
        stop = TrainingStopped(signum, iteration, path)
        print_log(
            f'{stop} {self._resume_note(runner)}', logger='current',
            level=logging.WARNING)
        raise stop

    @staticmethod
    def _resume_note(runner):
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return ''
        return (f'(Resuming restarts epoch {runner.epoch + 1} from its '
                'first batch.)')

    def after_run(self, runner):
        self._restore()
