# Runtime shared by all cim_mm configs. custom_imports: CIM's components
# ('cim_mm') and the 2026-stack adaptations ('cim_mm.compat.enable', the one
# switch for them: docs/stack.md).
custom_imports = dict(imports=['cim_mm', 'cim_mm.compat.enable'],
                      allow_failed_imports=False)
default_scope = 'mmpretrain'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Every epoch, the last 3 kept (as mmpretrain's MAE configs): a killed
    # job loses at most one epoch; written atomically (cim_mm.compat).
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # SIGTERM/SIGUSR1 (torchrun, Slurm): finish the iteration, save
    # iter_<n>.pth, exit 128+signal; --resume continues from it.
    stop_on_signal=dict(type='StopOnSignalHook'),
)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # nccl on GPUs; cim_mm.compat switches to gloo on a machine without CUDA.
    dist_cfg=dict(backend='nccl'),
)

# Scalars (loss, lr, ...) in <work_dir>/<timestamp>/vis_data/scalars.json;
# tools/analysis_tools/plot_curves.py draws them. TensorBoard too (pip install
# tensorboard; docs/pretrain_imagenet.md#watching-a-run): in your config,
#   visualizer = dict(vis_backends=[dict(type='LocalVisBackend'),
#                                   dict(type='CheckedTensorboardVisBackend')])
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True)
