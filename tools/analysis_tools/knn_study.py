"""Summarise a k-NN study over seeds: a Markdown table and a PNG of the curves.

    python tools/analysis_tools/knn_study.py work_dirs/knn_fashion_mnist \\
        [--key knn/top1] [--steps 0 1000 2000] [--band minmax] \\
        [--out work_dirs/knn_fashion_mnist/knn_study.png]

The study's work dir holds one training work dir per run, named
``<method>-seed<S>`` (``tools/analysis_tools/knn_fashion_mnist.sh``); the
runs of a method form a group. For each group the table gives, at each
step (default: every step all of its runs logged ``--key``, e.g. the k-NN
monitor's evaluations), the mean +- the sample standard deviation over the
seeds and the number of seeds; a last column gives the same for
``knn_full.json`` (``knn_eval.py --out``; its ``top1`` for ``knn/top1``)
in the runs' folders where present
(a final k-NN on bigger sets), and folders ``random-seed<S>`` holding only a
``knn_full.json`` (the random-init backbone) make a row of that column
only. The PNG is ``plot_curves.py --group``'s: a mean line per method and
its min-max (or +-std) band.
"""
import argparse
import importlib.util
import json
import math
import os
import os.path as osp
import re
import sys
from collections import defaultdict

from cim_mm.visualization.curve_groups import summarise_group
from cim_mm.visualization.scalar_logs import (ScalarLogError,
                                              read_work_dir_scalars)

RUN = re.compile(r'^(?P<method>.+)-seed(?P<seed>\d+)$')
FULL = 'knn_full.json'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Table (mean +- std over seeds) and PNG of a k-NN study')
    parser.add_argument('work_dir', help='the study: <method>-seed<S> runs')
    parser.add_argument('--key', default='knn/top1',
                        help='the scalar to summarise (default: knn/top1)')
    parser.add_argument('--steps', nargs='+', type=int,
                        help='the steps of the table (default: every step '
                        "all of a method's runs logged)")
    parser.add_argument('--out', help='also draw the curves into this PNG')
    parser.add_argument('--band', choices=('minmax', 'std'),
                        default='minmax', help="the curves' band")
    return parser.parse_args(argv)


def find_runs(work_dir):
    """``{method: {seed: folder}}`` of the ``<method>-seed<S>`` folders."""
    if not osp.isdir(work_dir):
        raise ScalarLogError(f'{work_dir}: no such folder (give the study '
                             "folder of knn_fashion_mnist.sh).")
    runs = defaultdict(dict)
    for name in sorted(os.listdir(work_dir)):
        match = RUN.match(name)
        if match and osp.isdir(osp.join(work_dir, name)):
            runs[match['method']][int(match['seed'])] = osp.join(
                work_dir, name)
    if not runs:
        raise ScalarLogError(f'{work_dir}: no <method>-seed<S> folders.')
    return dict(runs)


def cell(values):
    """``mean +- std (n)`` of ``values`` (percentages), '-' for none."""
    if not values:
        return '-'
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean)**2 for v in values) /
                    (n - 1)) if n > 1 else 0.0
    return f'{mean:.2f} +- {std:.2f} ({n})'


def full_result(folder, name):
    """``name`` (e.g. 'top1') of ``folder/knn_full.json``, or None."""
    path = osp.join(folder, FULL)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        value = json.load(f).get(name)
    return None if value is None else float(value)


def study_table(runs, key, steps=None):
    """The Markdown table (a list of lines) and the groups' summaries
    ``[(method, {key: [GroupPoint, ...]})]`` of the runs with a log."""
    summaries, rows, all_steps = [], [], set()
    for method, seeds in runs.items():
        logged = {}
        for seed, folder in seeds.items():
            try:
                scalars = read_work_dir_scalars(folder)
            except ScalarLogError:
                continue  # a folder with only knn_full.json (random init)
            if key in scalars:
                logged[seed] = scalars[key]
        points = summarise_group(list(logged.values()))
        if logged:
            summaries.append((method, {key: points}))
        all_steps.update(p.step for p in points)
        rows.append((method, sorted(seeds),
                     [v for v in (full_result(f, key.rsplit('/', 1)[-1])
                                  for f in seeds.values()) if v is not None],
                     logged))
    steps = sorted(all_steps) if steps is None else steps
    with_full = any(full for _, _, full, _ in rows)
    header = ['runs', 'seeds'] + [f'step {s}' for s in steps]
    header += ['full k-NN'] if with_full else []
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for method, seeds, full, logged in rows:
        cells = []
        for step in steps:
            # over the runs that logged the step (the count says how many)
            values = [dict(series).get(step) for series in logged.values()]
            cells.append(cell([v for v in values
                               if v is not None and math.isfinite(v)]))
        line = [method, ' '.join(map(str, seeds))] + cells
        line += [cell(full)] if with_full else []
        lines.append('| ' + ' | '.join(line) + ' |')
    return lines, summaries


def plot_tool():
    """plot_curves.py, next to this tool, as a module."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'plot_curves.py')
    spec = importlib.util.spec_from_file_location('plot_curves', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    args = parse_args(argv)
    try:
        runs = find_runs(args.work_dir)
        lines, summaries = study_table(runs, args.key, args.steps)
    except ScalarLogError as err:
        raise SystemExit(str(err))
    print(f'{args.key}, mean +- std over seeds (number of seeds), '
          f'{args.work_dir}:')
    print('\n'.join(lines))
    if args.out:
        if not summaries:
            raise SystemExit(f'{args.key}: logged by no run; nothing to '
                             'draw.')
        plot_tool().plot_groups(summaries, [args.key], args.out,
                                band=args.band)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
