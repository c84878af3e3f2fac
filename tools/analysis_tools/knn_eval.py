"""Weighted k-NN accuracy of a backbone's frozen features (as DINO).

Examples::

    # CIM: the online encoder of a pre-training run
    python tools/analysis_tools/knn_eval.py configs/cim_vitb_300e.py \\
        work_dirs/cim_vitb_300e/epoch_300.pth \\
        --train-root data/mine/train --val-root data/mine/val --out knn.json
    # mmpretrain's MAE, and the random-init baseline (no checkpoint)
    python tools/analysis_tools/knn_eval.py \\
        mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py \\
        mae.pth --train-root ... --val-root ...
    python tools/analysis_tools/knn_eval.py configs/cim_vitb_300e.py \\
        --train-root ... --val-root ...

Folders hold ``<class>/<image>``; the validation classes must be training
classes. Features: the config's ``model.backbone`` (CIM: the online
encoder), unmasked (MAE's backbone masks unless told not to), pooled as its
output says (class token of ViT tokens, the output itself for ``out_type``
'cls_token' / 'avg_featmap', the spatial mean of ResNet maps; ``--pool``
overrides), L2-normalised. Images: short side resized to S / 0.875
(bicubic), S x S centre crop, S the backbone's ``img_size`` (or the config's
crop, or ``--input-size``), normalised with the config's data preprocessor
mean/std. Each validation image: the k most similar training images
(cosine) vote for their class with weight exp(similarity / T).
"""
import argparse
import json
import os.path as osp
import sys

import mmengine
import torch
from mmengine.config import DictAction

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.checkpoint import CheckpointReadError, UntrustedCheckpointError
from cim_mm.compat import load_config
from cim_mm.evaluation.knn import POOLS, run_knn_eval


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Weighted k-NN accuracy of frozen backbone features',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='config file (its model.backbone)')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='checkpoint (runner checkpoint with backbone.* keys, or a '
        'converted backbone); none: random init')
    parser.add_argument('--train-root', required=True,
                        help='training images, <class>/<image>')
    parser.add_argument('--val-root', required=True,
                        help='validation images, <class>/<image>')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--k', type=int, default=20,
                        help='neighbours (default: 20)')
    parser.add_argument('--temperature', type=float, default=0.07,
                        help='T of the weights exp(sim / T) (default: 0.07)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cpu, cuda or cuda:N (default: cuda when available)')
    parser.add_argument(
        '--input-size', type=int,
        help="crop side (default: the backbone's img_size, else the "
        "config's crop, else 224)")
    parser.add_argument(
        '--pool', choices=POOLS, default='auto',
        help='cls: class token; avg: mean patch token / spatial mean; '
        'auto (default): as the backbone output says')
    parser.add_argument(
        '--prefix', default='backbone.',
        help="checkpoint keys of the encoder (default: 'backbone.'; CIM's "
        "EMA target: 'target_backbone.')")
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random initialisation')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, key=value (nested keys with dots)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    torch.manual_seed(args.seed)
    try:
        results = run_knn_eval(
            cfg, args.checkpoint, args.train_root, args.val_root,
            k=args.k, temperature=args.temperature,
            batch_size=args.batch_size, num_workers=args.num_workers,
            device=args.device, input_size=args.input_size, pool=args.pool,
            prefix=args.prefix)
    except (FileNotFoundError, CheckpointReadError, UntrustedCheckpointError,
            ValueError) as err:
        sys.exit(f'knn_eval.py: error: {err}')
    results.update(config=args.config, checkpoint=args.checkpoint,
                   train_root=args.train_root, val_root=args.val_root)
    load = results['load']
    if load is not None:
        print(f"checkpoint: {load['loaded']} backbone tensors loaded, "
              f"{len(load['missing'])} missing {load['missing'][:5]}, "
              f"{len(load['unexpected'])} unexpected "
              f"{load['unexpected'][:5]}")
    else:
        print(f'no checkpoint: random initialisation (seed {args.seed})')
    print(f"k-NN (k={results['k']}, T={results['temperature']}): "
          f"top-1 {results['top1']:.2f}%, top-5 {results['top5']:.2f}% "
          f"({results['num_val']} val / {results['num_train']} train "
          f"images, {results['num_classes']} classes, "
          f"{results['input_size']} px, {results['feature_dim']}-d)")
    if args.out:
        mmengine.mkdir_or_exist(osp.dirname(osp.abspath(args.out)))
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'results: {args.out}')


if __name__ == '__main__':
    main()
