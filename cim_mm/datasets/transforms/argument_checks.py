"""Checks of the pair transforms' arguments, raising ``ValueError`` with
the argument's name, the rule and the value given."""
from numbers import Number
from typing import Sequence


def _is_number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def check_int(name: str, value, low: int = 1) -> None:
    """``value`` is an int >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f'{name} must be an int >= {low}, got {value!r}.')


def check_prob(name: str, value) -> None:
    """``value`` is a number in [0, 1]."""
    if not _is_number(value) or not 0 <= value <= 1:
        raise ValueError(f'{name} must be a probability in [0, 1], '
                         f'got {value!r}.')


def check_range(name: str, value, low: float, high: float,
                low_open: bool) -> None:
    """``value`` is a pair ``(lo, hi)`` with ``low < lo`` (``low <= lo``
    unless ``low_open``) and ``lo <= hi <= high``."""
    ok = (isinstance(value, Sequence) and len(value) == 2
          and all(map(_is_number, value)))
    if ok:
        lo, hi = value
        ok = (low < lo if low_open else low <= lo) and lo <= hi <= high
    if not ok:
        bound = '<' if low_open else '<='
        raise ValueError(f'{name} must be a pair (lo, hi) with {low} {bound} '
                         f'lo <= hi <= {high}, got {value!r}.')
