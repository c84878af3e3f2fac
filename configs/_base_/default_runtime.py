# Runtime shared by all cim_mm configs: mmpretrain's default runtime, and what
# CIM changes. custom_imports: CIM's components ('cim_mm') and the 2026-stack
# adaptations that have no extension point ('cim_mm.compat.enable', the one
# switch for them: docs/stack.md).
_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['cim_mm', 'cim_mm.compat.enable'],
                      allow_failed_imports=False)

# Resume from the newest complete checkpoint (whatever last_checkpoint says),
# --launcher pytorch on a machine without a GPU (gloo), DataLoader workers that
# survive the stop signal (docs/preemption.md).
runner_type = 'CIMRunner'
# device_ids=None: DDP of CPU modules (mmengine passes [LOCAL_RANK], which DDP
# refuses for them); on GPUs DDP takes the module's device, as with the id.
model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                         broadcast_buffers=False,
                         find_unused_parameters=False)

default_hooks = dict(
    # Every epoch, the last 3 kept (as mmpretrain's MAE configs): a killed
    # job loses at most one epoch; the checkpoint and last_checkpoint written
    # atomically, the outdated checkpoint deleted after the new one is saved.
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    # SIGTERM/SIGUSR1 (torchrun, Slurm): finish the iteration, save
    # iter_<n>.pth, exit 128+signal; --resume continues from it.
    stop_on_signal=dict(type='StopOnSignalHook'),
)

env_cfg = dict(cudnn_benchmark=True)  # nccl; gloo without a GPU (CIMRunner)

# Scalars (loss, lr, ...) in <work_dir>/<timestamp>/vis_data/scalars.json;
# tools/analysis_tools/plot_curves.py draws them. TensorBoard too (pip install
# tensorboard; docs/pretrain_imagenet.md#watching-a-run): in your config,
#   visualizer = dict(vis_backends=[dict(type='LocalVisBackend'),
#                                   dict(type='CheckedTensorboardVisBackend')])

randomness = dict(seed=0, diff_rank_seed=True)
