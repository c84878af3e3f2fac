"""Count host-device synchronisations and cross-device copies of torch code.

:class:`DeviceTrafficCounter` is a ``TorchDispatchMode``: every aten call made
while it is active passes through it, so it sees what the code asks of the
device whatever Python layer issued it (mmengine's ``cast_data``, a
``tensor.item()``, a boolean mask). It works on real tensors (a GPU run: the
counts only) and under torch's ``FakeTensorMode`` on device ``'cuda'`` (no GPU
needed), where it also *answers* the data-dependent calls that fake tensors
cannot (``nonzero``, ``item()``, boolean indexing: as if every mask entry were
set), so a step can be followed to its end and every sync in it counted.

Counted as a **sync** (the host waits for the device):

- ``aten._local_scalar_dense`` (``item()``, ``int()``, ``float()``, ``bool()``
  of a device tensor), ``nonzero``, ``masked_select``, ``unique``,
  ``repeat_interleave`` without ``output_size``, ``equal``, ``is_nonzero``;
- indexing or index assignment with a boolean mask (a hidden ``nonzero``);
- a copy from the device to the host.

Counted as a **copy**: ``to``/``copy_`` between devices (either direction) and
ops that read a host tensor with more than one element while writing to the
device (e.g. ``x[:, [2, 1, 0]]`` on a CUDA ``x``, whose index list is built on
the host and copied, blocking). 0-dim host tensors passed to device ops are
kernel arguments, not copies, and are not counted.

What it cannot see: kernels, their timing and streams, the autograd engine's
device threads (a dispatch mode is thread-local: the backward of a CUDA graph
runs elsewhere), and syncs inside the CUDA runtime (allocator, NCCL).
"""
import contextlib
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import List, Optional

import torch
from torch.utils._python_dispatch import TorchDispatchMode

#: Ops that make the host wait for a device result (by packet name).
SYNC_OPS = frozenset({
    '_local_scalar_dense', 'nonzero', 'masked_select', 'unique', '_unique',
    '_unique2', 'unique_dim', 'unique_consecutive', 'equal', 'is_nonzero',
    'item',
})
_INDEX_OPS = frozenset({'index', 'index_put', 'index_put_', '_index_put_impl_'})


@dataclass
class TrafficEvent:
    """One counted sync or copy: the op, what it moved, and where it came
    from (the innermost frame of the code under test, not torch's)."""
    kind: str  # 'sync' or 'copy'
    op: str
    detail: str
    where: str

    def __str__(self) -> str:
        return f'{self.kind} {self.op} {self.detail} at {self.where}'


def _caller() -> str:
    for frame in reversed(traceback.extract_stack()[:-3]):
        name = frame.filename
        if ('/torch/' not in name and 'device_traffic' not in name
                and '/contextlib' not in name):
            return f'{name}:{frame.lineno} ({frame.name})'
    return '?'


def _tensors_in(value) -> List[torch.Tensor]:
    """The tensors in an op's arguments (nested lists, tuples and dicts), in
    order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors_in(item)]
    return []


def _is_fake(tensor: torch.Tensor) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor
    return isinstance(tensor, FakeTensor)


def _all_set_indices(mask: torch.Tensor) -> torch.Tensor:
    """``nonzero`` of a mask as if every entry were set: (numel, dim) int64
    on the mask's device."""
    grids = torch.meshgrid(
        *[torch.arange(s, device=mask.device) for s in mask.shape],
        indexing='ij')
    return torch.stack(grids, -1).reshape(-1, mask.dim())


class DeviceTrafficCounter(TorchDispatchMode):
    """Count the syncs and cross-device copies of the code run inside it.

    Example::

        with FakeTensorMode(allow_non_fake_inputs=True):
            with DeviceTrafficCounter() as traffic:
                data = model.data_preprocessor(batch, True)
        assert traffic.syncs == 0, traffic.report()

    Attributes:
        events (list[TrafficEvent]): every counted event, in order.
        ops (Counter): all aten calls seen, by name (for reports).
    """

    def __init__(self) -> None:
        super().__init__()
        self.events: List[TrafficEvent] = []
        self.ops: Counter = Counter()

    @property
    def syncs(self) -> int:
        return sum(e.kind == 'sync' for e in self.events)

    @property
    def copies(self) -> int:
        return sum(e.kind == 'copy' for e in self.events)

    def report(self, kind: Optional[str] = None) -> str:
        """One line per event (of ``kind`` if given), for error messages."""
        lines = [str(e) for e in self.events if kind in (None, e.kind)]
        return '\n'.join(lines) or '(none)'

    def _add(self, kind: str, op: str, detail: str = '') -> None:
        self.events.append(TrafficEvent(kind, op, detail, _caller()))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        self.ops[name] += 1
        tensors = _tensors_in((args, kwargs))
        fake = any(_is_fake(t) for t in tensors)
        on_device = any(t.device.type != 'cpu' for t in tensors)

        if fake and not on_device and name in SYNC_OPS:
            # Host-side work on host data (e.g. a max read from the
            # parameters before they are copied): not device traffic, but
            # fake tensors cannot compute it.
            return self._answer(func, name, args, kwargs)
        if name in ('_to_copy', 'copy_', 'copy'):
            self._count_copy(func, name, args, kwargs)
        elif on_device and (name in SYNC_OPS or
                            (name == 'repeat_interleave'
                             and kwargs.get('output_size') is None
                             and isinstance(args[0], torch.Tensor))):
            self._add('sync', name, self._shapes(tensors))
            if fake:
                return self._answer(func, name, args, kwargs)
        elif name in _INDEX_OPS:
            masks = [
                t for t in _tensors_in(args[1])
                if t.dtype in (torch.bool, torch.uint8)
            ]
            if masks and args[0].device.type != 'cpu':
                self._add('sync', f'{name}[mask]', self._shapes(masks))
                if fake:  # a k-dim mask stands for k index tensors
                    indices = []
                    for index in args[1]:
                        if isinstance(index, torch.Tensor) and index.dtype in (
                                torch.bool, torch.uint8):
                            indices.extend(_all_set_indices(index).unbind(1))
                        else:
                            indices.append(index)
                    args = (args[0], indices, *args[2:])
            self._count_implicit(name, tensors)
        else:
            self._count_implicit(name, tensors)
        return func(*args, **kwargs)

    @staticmethod
    def _shapes(tensors) -> str:
        return ', '.join(f'{tuple(t.shape)} {t.device}' for t in tensors)

    def _count_copy(self, func, name, args, kwargs) -> None:
        if name == '_to_copy':
            src = args[0]
            dst = kwargs.get('device') or src.device
        else:
            dst, src = args[0].device, args[1]
            if not isinstance(src, torch.Tensor):
                return
        dst = torch.device(dst)
        if dst.type == src.device.type:
            return
        detail = (f'{src.device.type}->{dst.type} {tuple(src.shape)} '
                  f'{src.dtype}')
        self._add('copy', name, detail)
        if dst.type == 'cpu':
            self._add('sync', name, detail)

    def _count_implicit(self, name, tensors) -> None:
        devices = {t.device.type for t in tensors}
        if len(devices) > 1 and 'cpu' in devices:
            host = [t for t in tensors if t.device.type == 'cpu' and t.dim()]
            if host:
                self._add('copy', f'{name}(host operand)',
                          self._shapes(host))

    @staticmethod
    def _answer(func, name, args, kwargs):
        """A plausible result for a data-dependent op on fake tensors."""
        if name == '_local_scalar_dense' or name == 'item':
            dtype = args[0].dtype
            if dtype == torch.bool:
                return True
            return 1.0 if dtype.is_floating_point else 1
        if name == 'nonzero':
            return _all_set_indices(args[0])
        if name == 'masked_select':
            return args[0].reshape(-1)
        if name in ('equal', 'is_nonzero'):
            return True
        raise NotImplementedError(
            f'DeviceTrafficCounter: {name} is data-dependent and cannot be '
            'answered under fake tensors; count it on real tensors.')


@contextlib.contextmanager
def fake_cuda(autocast_dtype: Optional[torch.dtype] = None):
    """Run torch code as if on a GPU, without one.

    Inside, a ``FakeTensorMode`` (real host tensors are accepted as inputs,
    e.g. a collated batch) in which ``module.to('cuda')`` gives parameters
    on device ``'cuda'`` (``overwrite_module_params_on_conversion``) and
    mixing host and device tensors raises as on a GPU. With
    ``autocast_dtype``, CUDA autocast is switched on with it: the low-level
    switch, since ``torch.autocast('cuda')`` (and so mmengine's AMP optim
    wrappers) turns itself off without a GPU. A
    :class:`DeviceTrafficCounter` inside answers the data-dependent calls
    fake tensors cannot (enter your own inside to count a part). Everything
    is restored on exit. Yields the fake mode.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    overwrite = torch.__future__.get_overwrite_module_params_on_conversion()
    autocast = (torch.is_autocast_enabled('cuda'),
                torch.get_autocast_dtype('cuda'))
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        with FakeTensorMode(allow_non_fake_inputs=True) as mode, \
                DeviceTrafficCounter():
            if autocast_dtype is not None:
                torch.set_autocast_dtype('cuda', autocast_dtype)
                torch.set_autocast_enabled('cuda', True)
            try:
                yield mode
            finally:
                torch.set_autocast_enabled('cuda', autocast[0])
                torch.set_autocast_dtype('cuda', autocast[1])
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(overwrite)
