# Runtime of the fine-tuning configs: the cim_mm runtime (custom_imports,
# default_scope, hooks, env) with checkpoints every 5 epochs, the last 3
# kept, plus the best top-1 so far.
_base_ = ['../../_base_/default_runtime.py']

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=5, max_keep_ckpts=3,
        save_best='auto'))
