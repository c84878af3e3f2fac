"""A CIM runner checkpoint loaded strictly into a CIM model (what the
correlation inferencer and its tool load)."""
import re

import torch

from .key_maps import (CheckpointConversionError, describe_prefixes,
                       source_state_dict)
from .loading import read_checkpoint

__all__ = ['CheckpointMismatchError', 'load_cim_checkpoint']


class CheckpointMismatchError(ValueError):
    """A checkpoint does not hold the weights of the config's CIM model."""


def load_cim_checkpoint(model: torch.nn.Module, path: str) -> None:
    """Load a CIM runner checkpoint (``iter_N.pth``, ``epoch_N.pth``) or a
    plain state dict strictly into ``model``, read weights-only by
    :func:`cim_mm.checkpoint.read_checkpoint`.

    Raises:
        FileNotFoundError: (the reader's) no such file.
        CheckpointMismatchError: a top-level part of the model (e.g.
            ``neck.*``) has no key in the checkpoint (a converted backbone,
            a classifier, another algorithm), or keys/shapes differ.
    """
    try:
        state = source_state_dict(
            read_checkpoint(path, map_location='cpu'), path)
    except CheckpointConversionError as err:
        raise CheckpointMismatchError(str(err)) from None
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
    found = {k.split('.', 1)[0] for k in state}
    needed = dict.fromkeys(k.split('.', 1)[0] for k in model.state_dict())
    missing = [p for p in needed if p not in found]
    if missing:
        names = ', '.join(f"'{p}.*'" for p in missing)
        what = ('it is not a CIM pre-training checkpoint'
                if 'neck' in missing else
                "it does not match this config's CIM model (bootstrap?)")
        raise CheckpointMismatchError(
            f'checkpoint {path} has no {names} keys: {what} (found: '
            f'{describe_prefixes(state)}). Pass the runner checkpoint of '
            'a CIM pre-training run (work_dirs/<config>/iter_N.pth or '
            'epoch_N.pth) with its config; a converted backbone or a '
            'fine-tuned classifier has no correlation decoder.')
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shapes differ
        raise CheckpointMismatchError(
            f'checkpoint {path} does not fit the model of the config: '
            f'{err}. Use the config it was trained with (with the same '
            '--cfg-options).') from err
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointMismatchError(
            f'checkpoint {path} does not fit the model of the config '
            f'(strict loading): missing {result.missing_keys[:5]} '
            f'({len(result.missing_keys)}), unexpected '
            f'{result.unexpected_keys[:5]} '
            f'({len(result.unexpected_keys)}). Use the config it was '
            'trained with (with the same --cfg-options).')
