"""The runner of CIM's configs (``runner_type='CIMRunner'``)."""
import datetime
import logging

import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.device import get_device
from mmengine.dist import init_dist, is_distributed
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from cim_mm.checkpoint.latest import find_latest_complete_checkpoint
from .worker_signals import chain_worker_init

__all__ = ['CIMRunner', 'init_distributed']


def init_distributed(launcher: str, backend: str = 'nccl', **kwargs) -> None:
    """mmengine's ``init_dist``, except that ``launcher='pytorch'`` on a
    machine without an accelerator starts a gloo process group (from
    torchrun's environment) and makes no CUDA call. ``kwargs`` as
    ``init_dist``'s (e.g. ``timeout`` in seconds)."""
    if launcher != 'pytorch' or get_device() != 'cpu':
        init_dist(launcher, backend=backend, **kwargs)
        return
    if backend != 'gloo':
        print_log(
            f"No GPU available: the configured distributed backend "
            f"'{backend}' is replaced by 'gloo'.",
            logger='current', level=logging.WARNING)
    if kwargs.get('timeout') is not None:  # as mmengine's init_dist
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    if mp.get_start_method(allow_none=True) is None:
        mp.set_start_method('spawn')
    # rank, world size, address: torchrun's environment (env://)
    torch_dist.init_process_group(backend='gloo', **kwargs)


@RUNNERS.register_module()
class CIMRunner(Runner):
    """mmengine's ``Runner`` with three behaviours of long runs, chosen by
    ``runner_type='CIMRunner'`` (registered in mmengine's root registry, so
    mmpretrain's and mmseg's ``tools/train.py`` build it too):

    - **Resume from the newest complete checkpoint.** ``resume=True``
      without ``load_from`` takes
      :func:`cim_mm.checkpoint.latest.find_latest_complete_checkpoint`:
      the ``last_checkpoint`` pointer when it names a complete checkpoint,
      else the newest complete ``epoch_<n>.pth`` / ``iter_<n>.pth`` of the
      work dir (a WARNING names what was skipped); mmengine's own lookup
      returns the pointer's text unchecked, so an empty pointer or one
      naming a truncated file fails the resume. Remote, folder and legacy
      (non-zip) pointers are returned as mmengine returns them.
    - **``--launcher pytorch`` on a machine without a GPU.** mmengine's
      ``init_dist`` calls ``torch.cuda.set_device`` and uses the configured
      backend (nccl); here, without an accelerator, a gloo process group
      is started first (the configured ``dist_cfg`` otherwise), so
      mmengine skips its own. Use with ``model_wrapper_cfg`` whose
      ``device_ids=None`` (the shipped runtime's): mmengine passes
      ``[LOCAL_RANK]``, which DDP refuses for CPU modules.
    - **DataLoader workers that survive the stop signal.** Every loader it
      builds gets a ``worker_init_fn`` that runs the configured one
      (mmengine's seeded default unless the config names another) and then
      installs the handlers :class:`~cim_mm.engine.hooks.StopOnSignalHook`
      registered (:mod:`.worker_signals`).
    """

    def setup_env(self, env_cfg: dict) -> None:
        if self.distributed and not is_distributed():
            # before mmengine's setup, which then skips its init_dist
            init_distributed(self.launcher, **env_cfg.get('dist_cfg', {}))
        super().setup_env(env_cfg)

    def load_or_resume(self) -> None:
        if self._has_loaded:
            return
        if self._resume and self._load_from is None:
            latest = find_latest_complete_checkpoint(self.work_dir)
            if latest is None:
                self.logger.info('No checkpoint to resume from in '
                                 f'{self.work_dir}: training starts anew.')
                return
            self.logger.info(f'Auto resumed from the latest checkpoint '
                             f'{latest}.')
            self.resume(latest)
            self._has_loaded = True
            return
        super().load_or_resume()

    @staticmethod
    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        loader = Runner.build_dataloader(dataloader, seed=seed,
                                         diff_rank_seed=diff_rank_seed)
        if getattr(loader, 'num_workers', 0) > 0:
            loader.worker_init_fn = chain_worker_init(loader.worker_init_fn)
        return loader
