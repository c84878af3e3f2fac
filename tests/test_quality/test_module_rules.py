"""Rules every module of cim_mm/ keeps: under 400 lines, and no reach-ins
into another module's private (``_name``) names.

A private name may be used by its own module, and by a class through
``self``, ``cls`` or ``super()`` (its own and inherited members). Anything
else (``from .x import _name``, ``obj._name``, ``getattr(obj, '_name')``,
a private module path) must be a public seam instead, or, for an upstream
library with no public equivalent, be listed in :data:`UPSTREAM_CONTRACTS`
with the reason. ``cim_mm/compat/`` is exempt: adapting upstream internals
is its job (one module per adaptation, each saying what it corrects).
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'cim_mm'
MAX_LINES = 400

#: (module path under cim_mm/, the expression as ast.unparse writes it, or
#: 'from MODULE import NAME') -> why it is allowed.
UPSTREAM_CONTRACTS = {
    ('apis/correlation_inferencer.py', "hasattr(model, '_config')"):
        "mmpretrain's inferencer contract: BaseInferencer reads "
        'model._config, which get_model sets; a model built otherwise gets '
        'an empty one',
    ('apis/correlation_inferencer.py', 'model._config'):
        'the same contract (set on a model built without get_model)',
    ('checkpoint/loading.py', 'np.core.multiarray._reconstruct'):
        'the name numpy pickles arrays with: the weights-only unpickler must '
        'allow that very function to read the arrays of a runner checkpoint',
    ('engine/hooks/stop_on_signal_hook.py', 'os._exit'):
        "the standard library's documented exit without clean-up, for a "
        'forked DataLoader worker (as torch\'s own handler does)',
    ('engine/optimizers/nonfinite_step_guard.py',
     "getattr(optimizer, '_step_supports_amp_scaling', False)"):
        "torch's GradScaler protocol: the flag by which an optimizer says its "
        'step() honours found_inf (the fused optimizers); no public query',
    ('engine/optimizers/nonfinite_step_guard.py', 'torch._foreach_norm'):
        "torch's multi-tensor kernel (what clip_grad_norm_ runs): one launch "
        'for all gradients, no public name',
    ('models/algorithms/cim.py', 'torch._foreach_lerp_'):
        "torch's multi-tensor kernel (what torch.optim runs): the EMA update "
        'in one launch, no public name',
    ('models/algorithms/cim.py', 'torch._foreach_copy_'):
        "torch's multi-tensor kernel: the EMA copy of buffers in one launch, "
        'no public name',
    ('engine/runners/resumable_iter_based_loop.py',
     'from mmengine.runner.loops import _InfiniteDataloaderIterator'):
        "mmengine's IterBasedTrainLoop iterator, used unchanged after the "
        'skipped batches of a resume; no public name',
    ('utils/device_traffic.py',
     'from torch.utils._python_dispatch import TorchDispatchMode'):
        "torch's dispatch-mode base class: its documented home (no public "
        'alias)',
    ('utils/device_traffic.py',
     'from torch._subclasses.fake_tensor import FakeTensor'):
        "torch's fake tensors (the CUDA contract without a GPU): their "
        'documented home (no public alias)',
    ('utils/device_traffic.py',
     'from torch._subclasses.fake_tensor import FakeTensorMode'):
        'the same',
}

ACCESSORS = ('getattr', 'setattr', 'hasattr', 'delattr')


def private(name: str) -> bool:
    return name.startswith('_') and not (name.startswith('__')
                                         and name.endswith('__'))


def modules():
    return sorted(PACKAGE.rglob('*.py'))


def reach_ins(path: Path):
    """(line, expression) of each use of a private name that is not the
    module's or the object's own."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = '.' * node.level + (node.module or '')
            for alias in node.names:
                if private(alias.name) or any(
                        private(part) for part in module.split('.')):
                    yield node.lineno, f'from {module} import {alias.name}'
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(private(part) for part in alias.name.split('.')):
                    yield node.lineno, f'import {alias.name}'
        elif isinstance(node, ast.Attribute) and private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ('self', 'cls'):
                continue
            if (isinstance(owner, ast.Call)
                    and isinstance(owner.func, ast.Name)
                    and owner.func.id == 'super'):
                continue
            yield node.lineno, ast.unparse(node)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ACCESSORS and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str)
              and private(node.args[1].value)):
            yield node.lineno, ast.unparse(node)


def test_no_module_of_cim_mm_has_400_lines_or_more():
    long = {
        str(path.relative_to(ROOT)): n
        for path in modules()
        if (n := len(path.read_text().splitlines())) >= MAX_LINES
    }
    assert not long, (
        f'modules of {MAX_LINES} lines or more: {long}. Split each along its '
        'concepts (one concept per file), as cim_mm/checkpoint/release/ is.')


def test_no_reach_ins_into_private_names_outside_compat():
    found, used = [], set()
    for path in modules():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith('compat/'):
            continue
        for line, expression in reach_ins(path):
            if (relative, expression) in UPSTREAM_CONTRACTS:
                used.add((relative, expression))
            else:
                found.append(f'cim_mm/{relative}:{line}: {expression}')
    assert not found, (
        'private names used from outside their module: ' + '; '.join(found) +
        '. Use (or make) a public name of that module; for an upstream '
        'library without one, add the use to UPSTREAM_CONTRACTS with the '
        'reason.')
    stale = sorted(set(UPSTREAM_CONTRACTS) - used)
    assert not stale, f'UPSTREAM_CONTRACTS entries no longer used: {stale}'


def test_the_checks_see_a_reach_in(tmp_path):
    """The walk flags imports and attributes of private names, and spares a
    class's own members."""
    source = tmp_path / 'example.py'
    source.write_text(
        'from .necks import _helper\n'
        'from cim_mm.models import utils\n'
        'class A(Base):\n'
        '    def f(self, other):\n'
        '        self._own(); super()._inherited(); cls = type(self)\n'
        '        return other._state, getattr(other, "_flag", 0)\n')
    assert [e for _, e in reach_ins(source)] == [
        'from .necks import _helper', 'other._state',
        "getattr(other, '_flag', 0)"
    ]
