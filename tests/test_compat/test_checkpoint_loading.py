"""cim_mm.compat.checkpoint_loading: every mmengine local checkpoint read
(resume, load_from, init_cfg Pretrained, load_checkpoint) goes through
cim_mm.checkpoint's weights-only reader."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from mmpretrain.registry import MODELS

from cim_mm.checkpoint import (TRUST_ENV_VAR, UntrustedCheckpointError,
                               trusted_checkpoints)

TOY_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data',
                      'toy_config.py')


class Opaque:
    """Any Python object: a pickle holding it is not weights-only."""


def state_dicts_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def saved_state_dict(path):
    with trusted_checkpoints():
        return CheckpointLoader.load_checkpoint(str(path))['state_dict']


def test_resume_from_runner_checkpoint_restores_iter_and_message_hub(
        toy_class_images, toy_runner_checkpoint, toy_cfg, tmp_path):
    cfg = toy_cfg(toy_class_images,
                  tmp_path,
                  'compat_resume',
                  resume=True,
                  load_from=str(toy_runner_checkpoint),
                  **{'train_cfg.max_iters': 3})
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3
    # 2 losses unpickled from the checkpoint's HistoryBuffer + 1 new one.
    losses, _ = runner.message_hub.get_scalar('train/loss').data
    assert len(losses) == 3


def test_load_from_runner_checkpoint_loads_weights(toy_class_images,
                                                   toy_runner_checkpoint,
                                                   toy_cfg, tmp_path):
    cfg = toy_cfg(toy_class_images,
                  tmp_path,
                  'compat_load_from',
                  load_from=str(toy_runner_checkpoint))
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    assert state_dicts_equal(runner.model.state_dict(),
                             saved_state_dict(toy_runner_checkpoint))


@pytest.mark.parametrize('saved', ['plain', 'runner_checkpoint'])
def test_weights_load_via_load_checkpoint_and_pretrained_init(
        saved, toy_runner_checkpoint, tmp_path):
    model_cfg = Config.fromfile(TOY_CONFIG).model
    if saved == 'plain':
        source = MODELS.build(model_cfg).state_dict()
        weights = tmp_path / 'plain.pth'
        torch.save(source, weights)
    else:  # weights-only now reads a runner's own checkpoint too
        weights = toy_runner_checkpoint
        source = saved_state_dict(weights)

    target = MODELS.build(model_cfg)
    load_checkpoint(target, str(weights), map_location='cpu', strict=True)
    assert state_dicts_equal(target.state_dict(), source)

    model_cfg.init_cfg = dict(type='Pretrained', checkpoint=str(weights))
    pretrained = MODELS.build(model_cfg)
    pretrained.init_weights()
    assert state_dicts_equal(pretrained.state_dict(), source)


@pytest.fixture
def opaque_checkpoint(toy_runner_checkpoint, tmp_path):
    """The runner checkpoint plus one arbitrary pickled object."""
    with trusted_checkpoints():
        checkpoint = CheckpointLoader.load_checkpoint(
            str(toy_runner_checkpoint))
    checkpoint['meta']['extra'] = Opaque()
    path = tmp_path / 'opaque.pth'
    torch.save(checkpoint, path)
    return path


def test_every_mmengine_path_refuses_arbitrary_pickled_objects(
        opaque_checkpoint, toy_class_images, toy_cfg, tmp_path):
    model_cfg = Config.fromfile(TOY_CONFIG).model
    with pytest.raises(UntrustedCheckpointError) as refused:
        load_checkpoint(MODELS.build(model_cfg), str(opaque_checkpoint))
    message = str(refused.value)
    assert f"Refused to load checkpoint '{opaque_checkpoint}'" in message
    assert 'Opaque' in message
    assert 'trusted_checkpoints()' in message and TRUST_ENV_VAR in message

    model_cfg.init_cfg = dict(type='Pretrained',
                              checkpoint=str(opaque_checkpoint))
    with pytest.raises(UntrustedCheckpointError):
        MODELS.build(model_cfg).init_weights()

    # The runner's own load_from and resume: no longer fully unpickled.
    for resume in (False, True):
        cfg = toy_cfg(toy_class_images,
                      tmp_path / str(resume),
                      f'compat_refuse_{resume}',
                      resume=resume,
                      load_from=str(opaque_checkpoint))
        with pytest.raises(UntrustedCheckpointError):
            Runner.from_cfg(cfg).load_or_resume()


def test_trusted_opt_in_fully_unpickles(opaque_checkpoint, toy_class_images,
                                        toy_cfg, tmp_path, monkeypatch):
    with trusted_checkpoints():
        assert isinstance(
            CheckpointLoader.load_checkpoint(
                str(opaque_checkpoint))['meta']['extra'], Opaque)
    monkeypatch.setenv(TRUST_ENV_VAR, '1')
    cfg = toy_cfg(toy_class_images,
                  tmp_path,
                  'compat_trusted_resume',
                  resume=True,
                  load_from=str(opaque_checkpoint))
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    assert runner.iter == 2


def test_missing_checkpoint_error_names_the_path(tmp_path):
    missing = tmp_path / 'no_such.pth'
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        CheckpointLoader.load_checkpoint(str(missing))
