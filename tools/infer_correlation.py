"""Where is an exemplar in an image? One-shot localisation with a CIM model.

Examples::

    # a box of the image itself (pixels: left, top, right, bottom)
    python tools/infer_correlation.py work_dirs/cim_demo/cim_demo.py \\
        work_dirs/cim_demo/iter_600.pth photo.jpg --box 40 30 120 90
    # another image; several queries give one JSON line each
    python tools/infer_correlation.py CONFIG CHECKPOINT photo.jpg \\
        --exemplar crop1.png --exemplar crop2.png --out-dir out/

The context is the whole image resized to the model's square context size
(aspect not kept); the exemplar is the box's pixels, or the other image,
resized to the square exemplar size; both sizes come from the config's
train pipeline. The predicted map is resized back to the image's width and
height, so every box is in input pixels ([x0, y0, x1, y1], pixel edges).

For each query one JSON line on stdout (everything else goes to stderr):
``box`` (the bounding box of the largest 8-connected region of the map above
``--threshold``; null when no pixel passes), ``score`` (the mean probability
inside that region; null without region), ``area``, ``peak`` (the map's
largest probability), ``map`` (8-bit PNG of the probabilities at the image's
size), ``overlay`` (the image with the map, the boxes and the exemplar) and
the query.
"""
import argparse
import contextlib
import json
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.apis import CorrelationInferencer
from cim_mm.apis.correlation_inferencer import json_result
from cim_mm.checkpoint import (CheckpointMismatchError, CheckpointReadError,
                               UntrustedCheckpointError)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='One-shot localisation with a pre-trained CIM model',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument(
        'config', help='CIM pre-training config file, or a model-zoo name')
    parser.add_argument(
        'checkpoint',
        help='checkpoint of that config (the runner\'s iter_N.pth / '
        'epoch_N.pth)')
    parser.add_argument('image', help='the image to search (the context)')
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument(
        '--box',
        nargs=4,
        type=float,
        action='append',
        metavar=('X0', 'Y0', 'X1', 'Y1'),
        help='the exemplar is this box of IMAGE (pixels: left, top, right, '
        'bottom); repeat for several queries')
    query.add_argument(
        '--exemplar',
        action='append',
        metavar='IMAGE2',
        help='the exemplar is this image; repeat for several queries')
    parser.add_argument(
        '--out-dir',
        default='work_dirs/infer_correlation',
        help='where the map and overlay PNGs go '
        '(default: work_dirs/infer_correlation)')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cpu, cuda or cuda:N (default: cuda when available)')
    parser.add_argument(
        '--threshold',
        type=float,
        default=0.5,
        help='probability (sigmoid) above which a pixel belongs to the '
        'predicted region (default: 0.5)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value (nested keys with dots); '
        'as for the training run that wrote the checkpoint')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model = args.config
    if osp.splitext(model)[1] == '.py':
        model = Config.fromfile(model)
        if args.cfg_options:
            model.merge_from_dict(args.cfg_options)
    elif args.cfg_options:
        sys.exit('infer_correlation.py: error: --cfg-options needs a config '
                 'file, not a model-zoo name.')
    if args.box:
        queries = [dict(image=args.image, box=box) for box in args.box]
    else:
        queries = [dict(image=args.image, exemplar=e) for e in args.exemplar]

    stdout = sys.stdout
    try:
        # Logs and progress bars go to stderr: stdout is the JSON lines.
        with contextlib.redirect_stdout(sys.stderr):
            inferencer = CorrelationInferencer(
                model,
                pretrained=args.checkpoint,
                device=args.device,
                threshold=args.threshold)
            results = inferencer(queries, out_dir=args.out_dir)
    except (FileNotFoundError, CheckpointMismatchError, CheckpointReadError,
            UntrustedCheckpointError, ValueError) as err:
        sys.exit(f'infer_correlation.py: error: {err}')
    for result in results:
        print(json.dumps(json_result(result)), file=stdout, flush=True)


if __name__ == '__main__':
    main()
