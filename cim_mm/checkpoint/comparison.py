"""Leaf-by-leaf comparison of checkpoints (exact-resume checks)."""
from typing import Iterator, List, Tuple

import torch

__all__ = ['checkpoint_leaves', 'same_leaf', 'differing_leaves']

#: The parts of a runner checkpoint that an exact resume must reproduce.
RESUMED_PARTS = ('state_dict', 'optimizer', 'param_schedulers')


def checkpoint_leaves(value, prefix: str = '') -> Iterator[Tuple[str, object]]:
    """Every leaf of a (nested dict / list) checkpoint part as ``(path,
    value)``, paths like ``/state/3/exp_avg``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from checkpoint_leaves(item, f'{prefix}/{key}')
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from checkpoint_leaves(item, f'{prefix}/{index}')
    else:
        yield prefix, value


def same_leaf(a, b) -> bool:
    """Tensors equal in shape, dtype and every value; anything else ``==``."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    return a == b


def differing_leaves(a: dict, b: dict,
                     parts=RESUMED_PARTS) -> Tuple[List[str], int]:
    """(paths that differ or exist on one side only, tensors compared) of
    two loaded runner checkpoints, over ``parts``."""
    bad, tensors = [], 0
    for part in parts:
        x = dict(checkpoint_leaves(a[part]))
        y = dict(checkpoint_leaves(b[part]))
        bad += [f'{part}{k}' for k in x.keys() ^ y.keys()]
        for key in x.keys() & y.keys():
            tensors += isinstance(x[key], torch.Tensor)
            if not same_leaf(x[key], y[key]):
                bad.append(f'{part}{key}')
    return bad, tensors
