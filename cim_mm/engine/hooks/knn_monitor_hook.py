"""Watch the representation learn: DINO's weighted k-NN accuracy of the
online encoder every N iterations (or epochs) of a pre-training run."""
import copy
import time
from typing import List, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS

from cim_mm.evaluation.knn import (POOLS, build_knn_loader, dataset_classes,
                                   extract_features, gather_shards,
                                   knn_accuracy, label_map)

#: The checkpoint entry holding the evaluations so far.
CHECKPOINT_KEY = 'knn_monitor'


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Every ``interval`` iterations (or epochs with ``by_epoch``), the k-NN
    accuracy of the model's ``backbone`` (CIM: the online encoder; MAE: its
    ``MAEViT``, unmasked) on labelled images: features of a memory set and
    a query set, classified by DINO's weighted k-NN
    (:func:`cim_mm.evaluation.knn.knn_accuracy`, as
    ``tools/analysis_tools/knn_eval.py``).

    What one evaluation does: the backbone in eval mode (every module's
    mode put back afterwards), under ``torch.no_grad``, fp32, on each
    batch normalised by the model's data preprocessor (its mean, std and
    channel order); features pooled as the tool pools them (``pool``) and
    L2-normalised. Each rank reads its share of the images (indices
    ``rank::world_size``) and the features are all-gathered, so every rank
    classifies the same features; rank 0 writes.

    What it writes, at step = the iteration count: ``<prefix>/top1``,
    ``<prefix>/top5`` (percent) to the visualizer (``add_scalars``: a line
    of ``<work_dir>/<timestamp>/vis_data/scalars.json`` and every other
    configured backend, e.g. TensorBoard), the message hub (the latest
    value, for other hooks) and a log line with the evaluation's time.

    What it leaves alone: the training. Its loaders draw nothing from the
    global RNGs (fixed order, own seeded generator and worker seeds), the
    training loader is not touched, the eval-mode forward draws nothing
    (no dropout, no masking), and the weights and their modes are
    unchanged. Resume: the evaluations so far (``history``: step, top-k)
    travel in the checkpoint (``checkpoint['knn_monitor']``) and the next
    one comes at the next multiple of ``interval``; a resumed run writes
    its points to its own new ``<timestamp>/vis_data/scalars.json``.

    Args:
        memory (dict): Data loader config of the labelled memory
            ("training") images: ``dataset`` (e.g. ``CustomDataset`` on
            ``<class>/<image>`` folders with
            :func:`cim_mm.evaluation.knn.knn_pipeline`), ``batch_size``,
            ``num_workers``; no sampler.
        query (dict): The same for the query ("validation") images; their
            classes must be memory classes (matched by name).
        interval (int): Iterations (epochs with ``by_epoch``) between
            evaluations. Defaults to 1000.
        by_epoch (bool): Count ``interval`` in epochs. Defaults to False.
        at_start (bool): Also evaluate before the first iteration (step 0,
            the initialisation). Defaults to False.
        k (int): Neighbours. Defaults to 20.
        temperature (float): T of the votes ``exp(cos / T)``. Defaults to
            0.07.
        pool (str): ``'auto'``, ``'cls'`` or ``'avg'``, see
            :func:`cim_mm.evaluation.knn.pool_features`. Defaults to
            ``'auto'``.
        topk (Sequence[int]): Accuracies logged. Defaults to (1, 5).
        seed (int): Seed of the loaders' own generator and workers.
            Defaults to 0.
        prefix (str): Name of the scalars. Defaults to ``'knn'``.
    """

    priority = 'LOW'  # after the logger, before the checkpoint hook

    def __init__(self,
                 memory: dict,
                 query: dict,
                 interval: int = 1000,
                 by_epoch: bool = False,
                 at_start: bool = False,
                 k: int = 20,
                 temperature: float = 0.07,
                 pool: str = 'auto',
                 topk: Sequence[int] = (1, 5),
                 seed: int = 0,
                 prefix: str = 'knn') -> None:
        for name, value in (('interval', interval), ('k', k)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'KNNMonitorHook: {name} must be a positive '
                                 f'int, got {value!r}.')
        if temperature <= 0:
            raise ValueError('KNNMonitorHook: temperature must be > 0, got '
                             f'{temperature!r}.')
        if pool not in POOLS:
            raise ValueError(f'KNNMonitorHook: pool must be one of {POOLS}, '
                             f'got {pool!r}.')
        for name, cfg in (('memory', memory), ('query', query)):
            if not isinstance(cfg, dict) or 'dataset' not in cfg:
                raise ValueError(
                    f'KNNMonitorHook: {name} must be a data loader config '
                    "with a 'dataset', e.g. dict(batch_size=64, "
                    "num_workers=2, dataset=dict(type='CustomDataset', "
                    'data_root=..., pipeline=knn_pipeline(224))), got '
                    f'{cfg!r}.')
        self.memory = memory
        self.query = query
        self.interval = interval
        self.by_epoch = by_epoch
        self.at_start = at_start
        self.k = k
        self.temperature = temperature
        self.pool = pool
        self.topk = tuple(topk)
        self.seed = seed
        self.prefix = prefix
        self.history: List[dict] = []
        self._loaders = None

    def before_train(self, runner) -> None:
        # only evaluations up to where this run starts (a checkpoint loaded
        # with load_from, not resumed, starts at 0)
        self.history = [h for h in self.history if h['step'] <= runner.iter]
        memory = build_knn_loader(self.memory, self.seed,
                                  'KNNMonitorHook memory')
        query = build_knn_loader(self.query, self.seed,
                                 'KNNMonitorHook query')
        classes = dataset_classes(memory.dataset, 'KNNMonitorHook memory')
        to_memory = label_map(
            classes, dataset_classes(query.dataset, 'KNNMonitorHook query'),
            'the KNNMonitorHook memory set', 'its query set')
        self._loaders = (memory, query, len(classes), torch.tensor(to_memory))
        if self.history:
            last = self.history[-1]
            runner.logger.info(
                f'k-NN monitor: {len(self.history)} evaluations restored, '
                f"the last at iteration {last['step']}: "
                + self._describe(last))
        if self.at_start and runner.iter == 0:
            self.evaluate(runner, step=0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self.by_epoch and self.every_n_train_iters(runner,
                                                          self.interval):
            self.evaluate(runner, step=runner.iter + 1)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and self.every_n_epochs(runner, self.interval):
            self.evaluate(runner, step=runner.iter)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = dict(history=copy.deepcopy(self.history))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is not None:
            self.history = list(state['history'])

    def _describe(self, entry: dict) -> str:
        return ', '.join(f"top-{k} {entry[f'top{k}']:.2f}%"
                         for k in self.topk if f'top{k}' in entry)

    def evaluate(self, runner, step: int) -> Optional[dict]:
        """Extract, classify and log at ``step``; returns the history entry
        (``step``, ``top1``, ... , the counts and the seconds taken)."""
        if self._loaders is None:
            raise RuntimeError('KNNMonitorHook.evaluate: its loaders are '
                               'built in before_train; train first.')
        memory, query, num_classes, to_memory = self._loaders
        start = time.perf_counter()
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        backbone = getattr(model, 'backbone', None)
        if backbone is None:
            raise ValueError(f'KNNMonitorHook: the model '
                             f'({type(model).__name__}) has no backbone.')
        feats = []
        for loader in (memory, query):
            x, y = extract_features(backbone, loader, model.data_preprocessor,
                                    self.pool, progress=False)
            total = len(loader.dataset)
            feats += [gather_shards(x, total), gather_shards(y, total)]
        memory_feats, memory_labels, query_feats, query_labels = feats
        query_labels = to_memory.to(query_labels.device)[query_labels]
        result = knn_accuracy(memory_feats, memory_labels, query_feats,
                              query_labels, num_classes, self.k,
                              self.temperature, self.topk)
        entry = dict(step=step, **result, num_memory=len(memory_feats),
                     num_query=len(query_feats),
                     seconds=round(time.perf_counter() - start, 3))
        self.history.append(entry)
        scalars = {f'{self.prefix}/{key}': value
                   for key, value in result.items()}
        runner.visualizer.add_scalars(scalars, step=step)
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        runner.logger.info(
            f'k-NN monitor, iteration {step}: {self._describe(entry)} '
            f'(k={min(self.k, len(memory_feats))}, T={self.temperature}; '
            f'{len(query_feats)} queries, {len(memory_feats)} memory '
            f"images, {num_classes} classes; {entry['seconds']:.1f} s)")
        return entry
