"""Draw the logged curves of one or more training work dirs into a PNG.

Examples::

    # the loss and, when a k-NN monitor ran, its accuracy
    python tools/analysis_tools/plot_curves.py work_dirs/cim_vitb_300e \\
        --out curves.png
    # two runs side by side, chosen keys
    python tools/analysis_tools/plot_curves.py work_dirs/cim work_dirs/mae \\
        --keys loss knn/top1 lr --out compare.png
    # seeds of two methods: one mean line per group, its min-max band
    python tools/analysis_tools/plot_curves.py work_dirs/study/*-seed* \\
        --group CIM=cim-seed --group MAE=mae-seed --keys knn/top1 \\
        --out study.png

Each work dir's runs (``<timestamp>/vis_data/scalars.json``, one per start
or ``--resume``) are merged in time order, a resumed run replacing what the
earlier one logged from its first step on
(:func:`cim_mm.visualization.read_work_dir_scalars`). One panel per key, its
x axis the logged step (the iteration for training scalars; the epoch for
validation metrics of an epoch-based loop), one line per work dir, named
after it. Non-finite values (a NaN loss) leave gaps. Keys default to
``loss`` and every key with a part starting with ``knn``.

With ``--group LABEL=REGEX`` (repeated), each work dir joins the first
group whose regex matches its path, and each group is drawn as one line,
the mean over its runs at every step they all logged, with a band: the min
to max over the runs (``--band minmax``, the default) or the mean +- the
sample standard deviation (``--band std``)
(:mod:`cim_mm.visualization.curve_groups`).
"""
import argparse
import math
import os
import os.path as osp
import sys

from cim_mm.visualization.curve_groups import (group_work_dirs, parse_group,
                                               summarise_group)
from cim_mm.visualization.scalar_logs import (ScalarLogError,
                                              default_curve_keys,
                                              read_work_dir_scalars)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='PNG of the loss / k-NN (or any logged) curves of '
        'training work dirs.')
    parser.add_argument('work_dirs', nargs='+', help='training work dirs')
    parser.add_argument(
        '--keys', nargs='+',
        help='scalars to draw, as named in scalars.json (e.g. loss lr '
        'knn/top1); default: loss and the k-NN keys present')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument('--title', help='figure title')
    parser.add_argument(
        '--group', action='append', metavar='LABEL=REGEX',
        help='draw the work dirs whose path matches REGEX as one group '
        '(mean line and band), labelled LABEL; repeat for each group')
    parser.add_argument(
        '--band', choices=('minmax', 'std'), default='minmax',
        help='the band of a group: min to max over its runs (default) or '
        'mean +- standard deviation')
    return parser.parse_args(argv)


def _labels(work_dirs):
    """Each work dir's folder name, or its path where names repeat."""
    names = [osp.basename(osp.normpath(d)) for d in work_dirs]
    return [n if names.count(n) == 1 else osp.normpath(d)
            for n, d in zip(names, work_dirs)]


def _figure(keys):
    """A figure with one panel per key, and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 2.6 * len(keys)), layout='constrained')
    FigureCanvasAgg(fig)
    return fig, fig.subplots(len(keys), 1, squeeze=False)[:, 0]


def _save(fig, out, title):
    if title:
        fig.suptitle(title)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)


def plot_curves(logs, keys, out, title=None):
    """Write ``out``: one panel per key, one line per ``(label, scalars)``
    of ``logs`` that has the key."""
    fig, axes = _figure(keys)
    for ax, key in zip(axes, keys):
        series = [(label, scalars[key]) for label, scalars in logs
                  if key in scalars]
        # points marked where they are few (a k-NN curve, a short run)
        marker = 'o' if max(len(s) for _, s in series) < 30 else None
        for label, points in series:
            steps = [s for s, _ in points]
            values = [v if math.isfinite(v) else math.nan for _, v in points]
            ax.plot(steps, values, label=label, linewidth=1, marker=marker,
                    markersize=3)
        ax.set_title(key)
        ax.set_xlabel('step')
        ax.grid(alpha=0.3)
        ax.legend(fontsize='small')
    _save(fig, out, title)


def plot_groups(summaries, keys, out, title=None, band='minmax'):
    """Write ``out``: one panel per key, per group a mean line and a band.

    ``summaries``: ``(label, {key: [GroupPoint, ...]})`` per group (see
    :func:`cim_mm.visualization.curve_groups.summarise_group`); ``band``:
    'minmax' (min to max over the runs) or 'std' (mean +- std)."""
    fig, axes = _figure(keys)
    for ax, key in zip(axes, keys):
        for label, by_key in summaries:
            points = by_key.get(key)
            if not points:
                continue
            steps = [p.step for p in points]
            mean = [p.mean for p in points]
            if band == 'std':
                low = [p.mean - p.std for p in points]
                high = [p.mean + p.std for p in points]
            else:
                low, high = [p.min for p in points], [p.max for p in points]
            marker = 'o' if len(points) < 30 else None
            line, = ax.plot(steps, mean, linewidth=1.2, marker=marker,
                            markersize=3,
                            label=f'{label} (mean of {points[0].n})')
            ax.fill_between(steps, low, high, color=line.get_color(),
                            alpha=0.2, linewidth=0)
        ax.set_title(f'{key} ({"min-max" if band == "minmax" else "+-std"} '
                     'band)')
        ax.set_xlabel('step')
        ax.grid(alpha=0.3)
        ax.legend(fontsize='small')
    _save(fig, out, title)


def _main_groups(args, logs, keys):
    """--group: draw and print the groups' summaries."""
    groups = [parse_group(spec) for spec in args.group]
    members = group_work_dirs(args.work_dirs, groups)
    scalars = dict(zip(args.work_dirs, (s for _, s in logs)))
    summaries = []
    for label, dirs in members.items():
        by_key = {key: summarise_group([scalars[d][key] for d in dirs])
                  for key in keys if all(key in scalars[d] for d in dirs)}
        summaries.append((label, by_key))
        counts = ', '.join(
            f'{key}: {len(by_key[key])} steps' if key in by_key else
            f'{key}: not logged by every run' for key in keys)
        print(f'{label} ({len(dirs)} runs): {counts}')
    plot_groups(summaries, keys, args.out, args.title, args.band)


def main(argv=None):
    args = parse_args(argv)
    if not args.out.lower().endswith('.png'):
        raise SystemExit(f'--out {args.out}: give a .png file name.')
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit('plot_curves.py draws with matplotlib: pip install '
                         'matplotlib (requirements/demo.txt).')
    try:
        logs = [(label, read_work_dir_scalars(work_dir)) for label, work_dir
                in zip(_labels(args.work_dirs), args.work_dirs)]
    except ScalarLogError as err:
        raise SystemExit(str(err))
    available = sorted(set().union(*(scalars for _, scalars in logs)))
    keys = args.keys or default_curve_keys(available)
    if not keys:
        raise SystemExit('None of the work dirs logged a loss or a k-NN key; '
                         f'choose with --keys from: {", ".join(available)}.')
    missing = [key for key in keys if key not in available]
    if missing:
        raise SystemExit(
            f'{", ".join(missing)}: logged in none of the work dirs. Logged '
            f'keys: {", ".join(available)}.')
    if args.group:
        try:
            _main_groups(args, logs, keys)
        except ScalarLogError as err:
            raise SystemExit(str(err))
        print(f'wrote {args.out}')
        return 0
    plot_curves(logs, keys, args.out, args.title)
    for label, scalars in logs:
        counts = ', '.join(f'{key}: {len(scalars[key])}' if key in scalars
                           else f'{key}: not logged' for key in keys)
        print(f'{label}: {counts}')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
