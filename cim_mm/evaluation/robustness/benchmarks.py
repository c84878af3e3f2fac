"""Table 8's six robustness benchmarks on one classifier.

:func:`evaluate_robustness` evaluates an mmpretrain ImageNet-1K classifier
(1000-way logits in the sorted-WordNet-id class order) on

* ``fgsm`` / ``pgd``: top-1 under white-box L-inf attacks on the ImageNet-1K
  validation images (the clean top-1 comes with them, Table 8's "Orig.");
* ``imagenet-c``: mCE (and CE per corruption) normalised by AlexNet;
* ``imagenet-a`` / ``imagenet-r``: top-1 with the logits restricted to the
  classes whose folders are present (200 in the real sets);
* ``imagenet-sketch``: top-1 over the 1000 classes.

Images go through the config's test pipeline, except ImageNet-C's (already
224 x 224): load, the test pipeline's center crop, pack, i.e. no resize, as
in Hendrycks & Dietterich's and RVT's evaluation code. In a distributed run
(``torch.distributed`` initialised) rank ``r`` of ``w`` evaluates samples
``r, r + w, ...`` and the counts are summed with ``mmengine.dist.all_reduce``:
no image is counted twice, and PGD's random start of an image depends only
on the seed and the image, so the figures are a one-process run's (up to
floating-point differences between batch shapes). All figures are
percentages.
"""
import os.path as osp
import sys
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import all_reduce, get_dist_info
from mmengine.utils import ProgressBar

from .attacks import fgsm, pgd
from .folders import (LabelledImages, scan_annotation_file,
                      scan_class_folders, scan_imagenet_c)
from .imagenet_c import (CORRUPTIONS, SEVERITIES, alexnet_errors_source,
                         corruption_errors)
from .pixel_space import PixelSpaceClassifier
from .wnids import NUM_IMAGENET_CLASSES, predict_in_subset

__all__ = [
    'BENCHMARKS', 'DATASET_OF', 'DEFAULT_SUBFOLDERS', 'AttackProtocol',
    'dataset_folders', 'imagenet_c_pipeline', 'evaluate_robustness',
    'table_row', 'format_table'
]

BENCHMARKS = ('fgsm', 'pgd', 'imagenet-c', 'imagenet-a', 'imagenet-r',
              'imagenet-sketch')
#: The dataset each benchmark reads.
DATASET_OF = {
    'fgsm': 'imagenet', 'pgd': 'imagenet', 'imagenet-c': 'imagenet-c',
    'imagenet-a': 'imagenet-a', 'imagenet-r': 'imagenet-r',
    'imagenet-sketch': 'imagenet-sketch'
}
#: Each dataset's folder under a common data root.
DEFAULT_SUBFOLDERS = {
    'imagenet': 'imagenet/val', 'imagenet-c': 'imagenet-c',
    'imagenet-a': 'imagenet-a', 'imagenet-r': 'imagenet-r',
    'imagenet-sketch': 'imagenet-sketch'
}


@dataclass(frozen=True)
class AttackProtocol:
    """The attacks' settings; budgets in units of 1/255 of the pixel range.

    The defaults are RVT's (Mao et al., CVPR 2022; alibaba/easyrobust,
    RVT/engine.py ``evaluate``), whose numbers Table 8's Scratch rows
    report: FGSM epsilon 1/255; PGD epsilon 1/255, 5 steps of 0.5/255,
    random start.
    """
    fgsm_epsilon: float = 1.
    pgd_epsilon: float = 1.
    pgd_step_size: float = 0.5
    pgd_steps: int = 5
    pgd_random_start: bool = True
    pixel_max: float = 255.  # the loaded images' range: [0, pixel_max]
    seed: int = 0  # PGD's random start of sample i: seed and i only


def dataset_folders(data_root: Optional[str] = None,
                    **folders: Optional[str]) -> Dict[str, str]:
    """Each dataset's folder: ``folders[name]`` (``imagenet``,
    ``imagenet_c``, ...) if given, else ``data_root/<DEFAULT_SUBFOLDERS>``.
    """
    result = {}
    for name, sub in DEFAULT_SUBFOLDERS.items():
        given = folders.get(name.replace('-', '_'))
        if given is None and data_root is not None:
            given = osp.join(data_root, sub)
        result[name] = given
    return result


def imagenet_c_pipeline(pipeline: Sequence[dict]) -> list:
    """The test pipeline without its resizing: load, center crop, pack.

    Returned unchanged when it has no ``CenterCrop``.
    """
    crops = [t for t in pipeline if t.get('type') == 'CenterCrop']
    if not crops:
        return list(pipeline)
    return [pipeline[0], dict(crops[-1]), pipeline[-1]]


def _pgd_noise(shape, indices, seed: int) -> torch.Tensor:
    """uniform(-1, 1) noise of sample ``i`` from its own generator, so that
    a sample's random start does not depend on its batch or rank."""
    noise = [
        torch.empty(shape).uniform_(
            -1, 1, generator=torch.Generator().manual_seed(
                seed * 10_000_019 + int(i))) for i in indices
    ]
    return torch.stack(noise)


def _attacks(protocol: AttackProtocol, benchmarks) -> Dict[str, Callable]:
    unit, top = protocol.pixel_max / 255., protocol.pixel_max
    attacks = {}
    if 'fgsm' in benchmarks:
        attacks['fgsm'] = lambda f, x, y, idx: fgsm(
            f, x, y, protocol.fgsm_epsilon * unit, 0., top)
    if 'pgd' in benchmarks:
        attacks['pgd'] = lambda f, x, y, idx: pgd(
            f, x, y, protocol.pgd_epsilon * unit,
            protocol.pgd_step_size * unit, protocol.pgd_steps,
            random_start=protocol.pgd_random_start,
            noise=_pgd_noise(x.shape[1:], idx, protocol.seed)
            if protocol.pgd_random_start else None,
            lower=0., upper=top)
    return attacks


def _count_correct(classifier, dataset, num_groups, attacks, class_subset,
                   batch_size, num_workers, progress, title):
    """Correct counts per (clean + attacks) x group, and totals per group,
    summed over the ranks."""
    rank, world_size = get_dist_info()
    shard = torch.utils.data.Subset(dataset,
                                    range(rank, len(dataset), world_size))
    loader = torch.utils.data.DataLoader(
        shard, batch_size=batch_size, shuffle=False,
        num_workers=num_workers, collate_fn=pseudo_collate)
    names = ['clean'] + list(attacks)
    device = classifier.device
    correct = torch.zeros(len(names), num_groups, dtype=torch.long,
                          device=device)
    total = torch.zeros(num_groups, dtype=torch.long, device=device)
    bar = None
    if progress and rank == 0 and len(shard):
        what = [f'{len(dataset)} images']
        if world_size > 1:
            what.append(f'{len(shard)} on this rank')
        what += ['clean'] + list(attacks) if attacks else []
        sys.stderr.write(f'{title}: {", ".join(what)}\n')
        bar = ProgressBar(len(shard), file=sys.stderr)
    for batch in loader:
        index = [int(i) for i in batch['index']]
        labels = torch.from_numpy(dataset.labels[index]).to(device)
        groups = torch.from_numpy(dataset.groups[index]).to(device)
        pixels = classifier.pixels(batch['inputs'])
        total.index_add_(0, groups, torch.ones_like(groups))
        for row, name in enumerate(names):
            inputs = pixels if name == 'clean' else attacks[name](
                classifier, pixels, labels, index)
            with torch.no_grad():
                logits = classifier(inputs)
            if logits.shape[-1] != NUM_IMAGENET_CLASSES:
                raise ValueError(
                    f'The classifier gives {logits.shape[-1]} logits; the '
                    'robustness benchmarks need the 1000 ImageNet-1K classes '
                    'in the sorted-WordNet-id order.')
            hits = predict_in_subset(logits, class_subset) == labels
            correct[row].index_add_(0, groups, hits.long())
        if bar is not None:
            bar.update(len(index))
    if bar is not None:
        bar.file.write('\n')
    all_reduce(correct, op='sum')
    all_reduce(total, op='sum')
    return ({name: correct[row].cpu() for row, name in enumerate(names)},
            total.cpu())


def _percent(correct, total) -> float:
    return 100. * float(correct) / max(int(total), 1)


def evaluate_robustness(model: torch.nn.Module,
                        test_pipeline: Sequence[dict],
                        folders: Dict[str, str],
                        benchmarks: Sequence[str] = BENCHMARKS,
                        protocol: AttackProtocol = AttackProtocol(),
                        imagenet_ann_file: Optional[str] = None,
                        batch_size: int = 32,
                        num_workers: int = 0,
                        progress: bool = True) -> dict:
    """Evaluate ``model`` on the ``benchmarks``.

    Args:
        model (nn.Module): An mmpretrain classifier on its device, 1000
            ImageNet-1K logits, with a ``ClsDataPreprocessor``.
        test_pipeline (list[dict]): The config's test pipeline.
        folders (dict): Dataset name (``imagenet``, ``imagenet-c``, ...) ->
            folder, see :func:`dataset_folders`; only the benchmarks'
            datasets are needed.
        benchmarks (Sequence[str]): A subset of :data:`BENCHMARKS`.
        protocol (AttackProtocol): The attacks' settings.
        imagenet_ann_file (str, optional): An mmpretrain annotation file
            for the ImageNet-1K val images (else class folders).
        batch_size, num_workers: Of each rank's data loader.
        progress (bool): Progress bars (stderr, rank 0).

    Returns:
        dict: Per benchmark its figures (``imagenet-1k``: the clean top-1
        of the attacked images), and ``protocol``.
    """
    unknown = [b for b in benchmarks if b not in BENCHMARKS]
    if unknown:
        raise ValueError(f'Unknown benchmark(s) {unknown}; choose from '
                         f'{BENCHMARKS}')
    # Check every folder before the first (long) evaluation.
    datasets = {}
    for dataset in dict.fromkeys(DATASET_OF[b] for b in benchmarks):
        root = folders.get(dataset)
        what = f'{dataset} (--{dataset} DIR or ' \
               f'DATA_ROOT/{DEFAULT_SUBFOLDERS[dataset]})'
        if root is None:
            raise ValueError(f'{what}: no folder given')
        if dataset == 'imagenet-c':
            datasets[dataset] = LabelledImages(
                scan_imagenet_c(root, what),
                imagenet_c_pipeline(test_pipeline))
            continue
        if dataset == 'imagenet' and imagenet_ann_file:
            samples = scan_annotation_file(root, imagenet_ann_file, what)
        else:
            samples = scan_class_folders(root, what)
        datasets[dataset] = LabelledImages(samples, test_pipeline)

    model.eval()
    classifier = PixelSpaceClassifier(model)
    run = dict(batch_size=batch_size, num_workers=num_workers,
               progress=progress)
    results = dict(protocol=asdict(protocol))
    if 'imagenet' in datasets:
        attacks = _attacks(protocol, benchmarks)
        correct, total = _count_correct(
            classifier, datasets['imagenet'], 1, attacks, None,
            title='ImageNet-1K val', **run)
        results['imagenet-1k'] = dict(
            top1=_percent(correct['clean'][0], total[0]),
            num_images=int(total[0]))
        for name in attacks:
            results[name] = dict(top1=_percent(correct[name][0], total[0]),
                                 num_images=int(total[0]))
    if 'imagenet-c' in datasets:
        results['imagenet-c'] = _imagenet_c_figures(*_count_correct(
            classifier, datasets['imagenet-c'],
            len(CORRUPTIONS) * len(SEVERITIES), {}, None,
            title='ImageNet-C', **run))
    for name in ('imagenet-a', 'imagenet-r', 'imagenet-sketch'):
        if name not in datasets:
            continue
        present = np.unique(datasets[name].labels).tolist()
        subset = None if name == 'imagenet-sketch' else present
        correct, total = _count_correct(
            classifier, datasets[name], 1, {}, subset, title=name, **run)
        results[name] = dict(
            top1=_percent(correct['clean'][0], total[0]),
            num_images=int(total[0]),
            num_classes=len(present),
            logits=('the 1000 classes' if subset is None else
                    f'restricted to the {len(present)} classes present'))
    return results


def _imagenet_c_figures(correct, total) -> dict:
    top1, errors = {}, {}
    for c_index, name in enumerate(CORRUPTIONS):
        cells = range(c_index * len(SEVERITIES),
                      (c_index + 1) * len(SEVERITIES))
        top1[name] = [_percent(correct['clean'][g], total[g]) for g in cells]
        errors[name] = [1. - acc / 100. for acc in top1[name]]
    ce = corruption_errors(errors)
    return dict(
        mce=100. * ce['mce'],
        top1=sum(sum(v) for v in top1.values()) / (5 * len(CORRUPTIONS)),
        num_images=int(total.sum()),
        corruptions={
            name: dict(ce=100. * ce['ce'][name],
                       mean_error=100. * ce['mean_error'][name],
                       top1_by_severity=top1[name])
            for name in CORRUPTIONS
        },
        alexnet_errors_source=alexnet_errors_source())


#: Table 8's columns and where their figure is.
COLUMNS = (('FGSM', 'fgsm', 'top1'), ('PGD', 'pgd', 'top1'),
           ('IN-C mCE (lower is better)', 'imagenet-c', 'mce'),
           ('IN-A', 'imagenet-a', 'top1'), ('IN-R', 'imagenet-r', 'top1'),
           ('IN-SK', 'imagenet-sketch', 'top1'),
           ('Orig.', 'imagenet-1k', 'top1'))


def table_row(results: dict) -> Dict[str, Optional[float]]:
    """Table 8's row: column -> figure (None where not evaluated)."""
    return {
        column: results[key][field] if key in results else None
        for column, key, field in COLUMNS
    }


def format_table(results: dict) -> str:
    """Table 8's row (and ImageNet-C's CE per corruption) as markdown."""
    row = table_row(results)
    lines = [
        '| ' + ' | '.join(row) + ' |',
        '|' + '---|' * len(row),
        '| ' + ' | '.join('-' if v is None else f'{v:.1f}'
                          for v in row.values()) + ' |',
    ]
    if 'imagenet-c' in results:
        corruptions = results['imagenet-c']['corruptions']
        lines += [
            '', 'ImageNet-C corruption error (CE, % of AlexNet\'s):', '',
            '| ' + ' | '.join(corruptions) + ' |',
            '|' + '---|' * len(corruptions),
            '| ' + ' | '.join(f'{c["ce"]:.1f}'
                              for c in corruptions.values()) + ' |'
        ]
    return '\n'.join(lines)
