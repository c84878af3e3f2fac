"""Cost of one KNNMonitorHook evaluation of a config's backbone, in parts:
the k-NN loader alone (decode, resize, crop), the backbone's forward on
the device (no_grad, eval, fp32), and the k-NN arithmetic on random
features of the backbone's width for ``--memory`` x ``--queries``.

Images: an ImageNet-style folder of ``--images`` JPEGs 400-500 px wide
(``benchmark_data.py``'s tree, 10 classes), read through
``cim_mm.evaluation.knn.build_knn_loader`` with ``knn_pipeline``.

Example::

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_knn_monitor.py \\
        configs/cim_vitb_300e.py --images 64 --workers 0
"""
import argparse
import importlib.util
import json
import os.path as osp
import tempfile
import time

import torch
from mmengine.config import DictAction
from mmengine.registry import DefaultScope

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.compat import load_config
from cim_mm.evaluation.knn import (build_knn_loader, extract_features,
                                   folder_loader_cfg, forward_backbone,
                                   knn_accuracy, normalise_images)

HERE = osp.dirname(osp.abspath(__file__))


def write_jpeg_tree(root, num_images):
    """benchmark_data.py's ImageNet-like tree, ``root/train/<class>/``."""
    spec = importlib.util.spec_from_file_location(
        'benchmark_data', osp.join(HERE, 'benchmark_data.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return osp.join(module.write_jpeg_tree(root, num_images), 'train')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--images', type=int, default=64,
                        help='JPEGs read by the loader and the backbone')
    parser.add_argument('--input-size', type=int, default=224)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--workers', type=int, default=0)
    parser.add_argument('--memory', type=int, default=10000,
                        help='memory features of the k-NN arithmetic')
    parser.add_argument('--queries', type=int, default=10000)
    parser.add_argument('--classes', type=int, default=1000)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dir', help='image folder (default: a temporary '
                        'one)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model).to(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_jpeg_tree(args.dir or tmp, args.images)
        loader = build_knn_loader(folder_loader_cfg(
            root, args.input_size, args.batch_size, args.workers))
        start = time.perf_counter()
        batches = list(loader)
        data_s = time.perf_counter() - start
        inputs = [normalise_images(model.data_preprocessor, b['inputs'])
                  for b in batches]
        with torch.no_grad():
            model.backbone.eval()
            forward_backbone(model.backbone, inputs[0][:2])  # warm-up
            start = time.perf_counter()
            for x in inputs:
                out = forward_backbone(model.backbone, x)
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()
            forward_s = time.perf_counter() - start
            start = time.perf_counter()
            feats, _ = extract_features(model.backbone, loader,
                                        model.data_preprocessor,
                                        progress=False)
            both_s = time.perf_counter() - start
    dim = feats.shape[1]
    gen = torch.Generator().manual_seed(0)
    memory = torch.nn.functional.normalize(
        torch.randn(args.memory, dim, generator=gen), dim=1).to(args.device)
    queries = torch.nn.functional.normalize(
        torch.randn(args.queries, dim, generator=gen), dim=1).to(args.device)
    labels = torch.randint(0, args.classes, (args.memory, ), generator=gen)
    truth = torch.randint(0, args.classes, (args.queries, ), generator=gen)
    start = time.perf_counter()
    knn_accuracy(memory, labels, queries, truth, args.classes)
    knn_s = time.perf_counter() - start
    del out
    result = dict(
        images=args.images, input_size=args.input_size,
        feature_dim=dim, threads=torch.get_num_threads(),
        loader_images_per_s=round(args.images / data_s, 1),
        forward_images_per_s=round(args.images / forward_s, 1),
        extract_images_per_s=round(args.images / both_s, 1),
        knn_seconds=round(knn_s, 2), memory=args.memory,
        queries=args.queries)
    print(json.dumps(result))
    return result


if __name__ == '__main__':
    main()
