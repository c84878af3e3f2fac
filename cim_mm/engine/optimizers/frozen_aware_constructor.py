"""An optimizer constructor that leaves frozen sub-modules out, quietly,
and hands the optimizer as few parameter groups as the settings allow."""
import logging

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FrozenAwareOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` that skips fully frozen sub-modules.

    With a ``paramwise_cfg``, mmengine's default constructor logs one warning
    per parameter with ``requires_grad=False``: for CIM that is every
    parameter of the EMA target encoder (hundreds of lines for a ViT-B). This
    constructor leaves out any sub-module whose parameters are all frozen
    (the target encoder, a frozen patch embedding) with one INFO line each.

    Every trainable parameter gets exactly the settings (lr, weight decay,
    ...) the default would give it, but parameters with equal settings share
    one group: the default makes one group per parameter, and an optimizer
    step over hundreds of one-tensor groups is launch-bound on a GPU
    (docs/benchmarks.md, "The training step"). CIM's configs end with two
    groups (with and without weight decay). Optimizer states saved with one
    group per parameter do not load into the merged groups.
    """

    def add_params(self, params, module: nn.Module, prefix: str = '',
                   is_dcn_module=None) -> None:
        if not prefix:  # the top-level call: group the whole model, merge
            self._add_module_params(params, module, prefix, is_dcn_module)
            defaults = {key: value for key, value in self.optimizer_cfg.items()
                        if key != 'type'}
            merged = merge_param_groups(params, defaults)
            print_log(
                f'{sum(len(g["params"]) for g in merged)} trainable '
                f'parameter tensors in {len(merged)} parameter group(s)',
                logger='current', level=logging.INFO)
            params[:] = merged
            return
        self._add_module_params(params, module, prefix, is_dcn_module)

    def _add_module_params(self, params, module, prefix, is_dcn_module):
        module_params = list(module.parameters())
        if prefix and module_params and not any(
                p.requires_grad for p in module_params):
            count = sum(p.numel() for p in module_params)
            print_log(f'{prefix}: frozen ({count} parameters), not optimised',
                      logger='current', level=logging.INFO)
            return
        super().add_params(params, module, prefix, is_dcn_module)


# Recorded by mmengine's constructor for custom_keys, read by nothing: the
# lr and weight decay they produced are in the group's own settings.
_RECORD_ONLY_KEYS = ('lr_mult', 'decay_mult')


def merge_param_groups(groups, defaults=None):
    """Merge parameter groups whose optimizer settings are equal.

    Settings are every key but ``params`` and the record-only
    ``lr_mult``/``decay_mult``; a key a group lacks takes its value from
    ``defaults`` (the optimizer's config), as the optimizer would. Groups
    come out in order of first appearance, parameters keep their order.
    """
    merged = {}
    for group in groups:
        group = dict(defaults or {}, **{
            key: value for key, value in group.items()
            if key not in _RECORD_ONLY_KEYS})
        settings = tuple(sorted(  # repr: lists and tensors are unhashable
            (key, repr(value)) for key, value in group.items()
            if key != 'params'))
        if settings not in merged:
            merged[settings] = dict(group, params=[])
        merged[settings]['params'].extend(group['params'])
    return list(merged.values())
