"""Read the scalars mmengine logs in a work dir, across resumed runs.

Each run of ``tools/train.py`` on a work dir, the first and every
``--resume``, writes ``<work_dir>/<timestamp>/vis_data/scalars.json``
(``LocalVisBackend``): one JSON object per line, its ``step`` and the
scalars logged at it (training lines: ``loss``, ``lr``, ``grad_norm``, ...
at the iteration; validation lines: the metrics, at the epoch for an
epoch-based loop).
"""
import glob
import json
import os.path as osp
from typing import Dict, Iterable, List, Tuple

#: A scalar's series: (step, value) pairs in increasing step order.
Series = List[Tuple[int, float]]

#: Bookkeeping fields of a line, not scalars to plot.
NON_SCALAR_KEYS = frozenset({'step', 'iter', 'epoch'})


class ScalarLogError(ValueError):
    """A work dir without scalars, a key logged nowhere, a broken log."""


def find_scalar_files(work_dir: str) -> List[str]:
    """``<work_dir>/<timestamp>/vis_data/scalars.json`` files, oldest run
    first (mmengine's ``YYYYMMDD_HHMMSS`` names sort by time).

    Raises:
        ScalarLogError: ``work_dir`` is not a folder or holds none.
    """
    if not osp.isdir(work_dir):
        raise ScalarLogError(f'{work_dir}: no such folder (give the work dir '
                             'of a training run, e.g. work_dirs/cim_demo).')
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise ScalarLogError(
            f'{work_dir}: no <timestamp>/vis_data/scalars.json in it. Is it '
            'the work dir of a training run (--work-dir), and has the run '
            'logged an iteration yet (default_hooks.logger.interval)?')
    return files


def read_scalar_file(path: str) -> Dict[str, Series]:
    """Every numeric scalar of one ``scalars.json``, by key, in file order;
    a later line at the same step replaces an earlier one. A truncated last
    line (a run killed while writing) is left out.

    Raises:
        ScalarLogError: a line other than the last is not a JSON object
            with a ``step``.
    """
    with open(path, encoding='utf-8') as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    found: Dict[str, Dict[int, float]] = {}
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            step = int(record['step'])
        except (ValueError, KeyError, TypeError) as err:
            if number == len(lines):
                break  # written when the run was killed
            raise ScalarLogError(
                f'{path}, line {number}: not a scalars.json record with a '
                f'step ({err}).') from err
        for key, value in record.items():
            if key in NON_SCALAR_KEYS or isinstance(value, bool) or \
                    not isinstance(value, (int, float)):
                continue
            found.setdefault(key, {})[step] = float(value)
    return {key: sorted(values.items()) for key, values in found.items()}


def merge_runs(runs: Iterable[Dict[str, Series]]) -> Dict[str, Series]:
    """One series per key from the runs of a work dir, oldest first: a later
    run's series of a key replaces the earlier runs' from its first step on
    (a run resumed from iteration n logs again from n + 1, and what the
    interrupted run logged after its checkpoint is superseded)."""
    merged: Dict[str, Series] = {}
    for run in runs:
        for key, series in run.items():
            if not series:
                continue
            first = series[0][0]
            kept = [(s, v) for s, v in merged.get(key, []) if s < first]
            merged[key] = kept + list(series)
    return merged


def read_work_dir_scalars(work_dir: str) -> Dict[str, Series]:
    """The merged scalars of every run in ``work_dir`` (see
    :func:`merge_runs`), by key."""
    return merge_runs(read_scalar_file(path)
                      for path in find_scalar_files(work_dir))


def default_curve_keys(available: Iterable[str]) -> List[str]:
    """``loss`` and every k-NN key (a ``/``-separated part starting with
    ``knn``, e.g. ``knn/top1``) among ``available``, in that order."""
    available = sorted(set(available))
    keys = ['loss'] if 'loss' in available else []
    return keys + [k for k in available
                   if any(part.startswith('knn') for part in k.split('/'))]

