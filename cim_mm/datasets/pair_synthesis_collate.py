"""Build CIM pairs in the DataLoader workers: a collate function."""
from contextlib import contextmanager
from typing import Sequence

import torch
from mmengine.dataset import default_collate
from mmengine.registry import FUNCTIONS

from cim_mm.models.utils.pair_synthesis import synthesise_batch
from .transforms.formatting import PAIR_PARAMS


@contextmanager
def one_torch_thread():
    """Run the block with one intra-op thread (restored after): the
    arithmetic of torch's CPU kernels then does not depend on whether the
    batch is collated in a worker (one thread) or in the main process
    (``num_workers=0``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@FUNCTIONS.register_module()
def pair_synthesis_collate(data_batch: Sequence) -> dict:
    """``default_collate``, then the pairs of a batch of search images
    built where the batch is collated (a DataLoader worker).

    The placement for machines without a GPU, where the main process should
    only train: the batch leaves the worker as ``[context (B, 3, m, m)
    uint8, exemplar_0 (B, 3, n, n) uint8, ...]`` with every data sample
    holding its pair parameters and ``corr_maps``, which
    ``CIMDataPreprocessor`` passes on unchanged. The pixels come from the
    same function as on the device
    (:func:`cim_mm.models.utils.pair_synthesis.synthesise_batch`), on one
    thread, so a batch is bit-identical whatever the number of workers.
    Batches without drawn pair parameters are only collated.

    Select it with ``train_dataloader.collate_fn =
    dict(type='pair_synthesis_collate')``.
    """
    batch = default_collate(data_batch)
    params = batch.pop(PAIR_PARAMS, None)
    if params is None:
        return batch
    with one_torch_thread():
        pairs = synthesise_batch(batch, params)
    pairs['inputs'] = [x.to(torch.uint8) for x in pairs['inputs']]
    return pairs
