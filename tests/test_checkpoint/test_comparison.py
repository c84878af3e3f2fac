"""differing_leaves: what an exact-resume check compares."""
import torch

from cim_mm.checkpoint.comparison import differing_leaves


def checkpoint(weight, lr=0.1, extra=False):
    ckpt = dict(state_dict={'w': weight.clone()},
                optimizer=dict(state={0: dict(exp_avg=weight * 2)},
                               param_groups=[dict(lr=lr)]),
                param_schedulers=[dict(last_step=3)])
    if extra:
        ckpt['state_dict']['b'] = torch.zeros(1)
    return ckpt


def test_equal_checkpoints_have_no_differing_leaf():
    w = torch.arange(4.)
    bad, tensors = differing_leaves(checkpoint(w), checkpoint(w))
    assert bad == [] and tensors == 2


def test_a_changed_value_a_changed_scalar_and_a_missing_key_are_named():
    w = torch.arange(4.)
    changed = w.clone()
    changed[1] += 1e-6
    assert differing_leaves(checkpoint(w), checkpoint(changed))[0] == [
        'state_dict/w', 'optimizer/state/0/exp_avg']
    assert differing_leaves(checkpoint(w), checkpoint(w, lr=0.2))[0] == [
        'optimizer/param_groups/0/lr']
    assert differing_leaves(checkpoint(w), checkpoint(w, extra=True))[0] == [
        'state_dict/b']
