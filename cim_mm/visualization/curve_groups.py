"""Group the logged curves of several runs (seeds of one method) and
summarise each group step by step.

``group_work_dirs`` assigns work dirs to groups by regular expressions;
``summarise_group`` turns the runs of a group, one series of a key each,
into one point per step that every run logged: the mean, the sample
standard deviation, the min and the max over the runs.
"""
import math
import re
from typing import Dict, List, NamedTuple, Sequence, Tuple

from .scalar_logs import ScalarLogError, Series


class GroupPoint(NamedTuple):
    """A group's summary at one step, over its ``n`` runs."""
    step: int
    mean: float
    std: float  # sample standard deviation (n - 1); 0.0 for one run
    min: float
    max: float
    n: int


def parse_group(spec: str) -> Tuple[str, str]:
    """``'LABEL=REGEX'`` or ``'REGEX'`` (labelled by itself) as
    ``(label, regex)``.

    Raises:
        ScalarLogError: an empty label or pattern, or a regex that does not
            compile.
    """
    label, sep, pattern = spec.partition('=')
    if not sep:
        label, pattern = spec, spec
    if not label or not pattern:
        raise ScalarLogError(f'--group {spec!r}: give LABEL=REGEX or REGEX, '
                             'e.g. cim=cim-seed')
    try:
        re.compile(pattern)
    except re.error as err:
        raise ScalarLogError(f'--group {spec!r}: {pattern!r} is not a '
                             f'regular expression ({err}).') from None
    return label, pattern


def group_work_dirs(work_dirs: Sequence[str],
                    groups: Sequence[Tuple[str, str]]
                    ) -> Dict[str, List[str]]:
    """The work dirs of each ``(label, regex)`` group, in the given order:
    a work dir joins the first group whose regex it matches (``re.search``
    on its path).

    Raises:
        ScalarLogError: a work dir that matches no group, or a group that
            matches no work dir (the message names them and the patterns).
    """
    members: Dict[str, List[str]] = {label: [] for label, _ in groups}
    for work_dir in work_dirs:
        label = next((label for label, pattern in groups
                      if re.search(pattern, work_dir)), None)
        if label is None:
            raise ScalarLogError(
                f'{work_dir}: matches none of the groups '
                f'({", ".join(p for _, p in groups)}); add a --group for it '
                'or leave it out.')
        members[label].append(work_dir)
    empty = [label for label, dirs in members.items() if not dirs]
    if empty:
        raise ScalarLogError(
            f'group {", ".join(empty)}: no work dir matches its pattern '
            f'(work dirs: {", ".join(work_dirs)}).')
    return members


def summarise_group(series: Sequence[Series]) -> List[GroupPoint]:
    """One :class:`GroupPoint` per step that every series logged with a
    finite value, in step order (a step some run lacks, or where a run's
    value is NaN/inf, is left out rather than averaged over fewer runs)."""
    if not series:
        return []
    by_run = [dict(points) for points in series]
    steps = set(by_run[0]).intersection(*by_run[1:])
    summary = []
    for step in sorted(steps):
        values = [run[step] for run in by_run]
        if not all(math.isfinite(v) for v in values):
            continue
        n = len(values)
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean)**2 for v in values) /
                        (n - 1)) if n > 1 else 0.0
        summary.append(GroupPoint(step, mean, std, min(values), max(values),
                                  n))
    return summary
