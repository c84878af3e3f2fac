"""Convert a CIM checkpoint's encoder for mmpretrain, mmsegmentation or timm.

    python tools/model_converters/convert_cim.py IN OUT --to mmpretrain
    python tools/model_converters/convert_cim.py IN OUT --to mmseg
    python tools/model_converters/convert_cim.py IN OUT --to timm [--arch NAME]

IN is a CIM pre-training runner checkpoint (or, for any target, an mmpretrain
ImageClassifier checkpoint, e.g. after ImageNet fine-tuning). It is read
by :func:`cim_mm.checkpoint.read_checkpoint`, weights only: tensors plus the
mmengine/numpy types of a runner checkpoint, nothing else.

OUT:
* mmpretrain: ``{'state_dict': <backbone keys, no prefix>, 'meta': ...}`` for
  ``backbone=dict(..., init_cfg=dict(type='Pretrained', checkpoint=OUT))``
  (no ``prefix``) of ``VisionTransformer``/``CIMViT`` or ``ResNet``.
* mmseg: ``{'state_dict': ..., 'meta': ...}`` for mmseg's ``MAE`` backbone
  (ViT) or ``ResNet``: ``model.pretrained=OUT`` or the backbone's
  ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``.
* timm: a plain state dict for ``timm.create_model(NAME, **kwargs)`` (the
  call is printed); ``head.*`` / ``fc.*`` are left to the user.

The output is loaded into a freshly built target model before it is written;
the tool exits with 1 (and writes nothing) if a backbone key is missing or
left unused, and with 2 if IN cannot be read or converted.
"""
import argparse
import os.path as osp
import sys

from mmengine.utils import ProgressBar

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.checkpoint import (CONVERTERS, ENCODER_PREFIXES, TARGETS,
                               CheckpointConversionError, backbone_kind,
                               build_target_model, encoder_state_dict,
                               expected_missing_keys, resnet_depth,
                               source_state_dict, timm_model_args,
                               verify_conversion, vit_arch)
from cim_mm.checkpoint.cli import (log_step, read_source, run_converter,
                                   save_converted)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert the encoder of a CIM (or mmpretrain '
        'classifier) checkpoint for mmpretrain, mmseg or timm.')
    parser.add_argument('src', help='CIM runner checkpoint (.pth)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--to', required=True, choices=TARGETS)
    parser.add_argument(
        '--encoder',
        default='online',
        choices=tuple(ENCODER_PREFIXES),
        help='online encoder (backbone.*, default) or EMA target encoder '
        '(target_backbone.*)')
    parser.add_argument(
        '--arch',
        help='timm model name (default: inferred from width and depth, '
        'e.g. vit_base_patch16_224, resnet50)')
    parser.add_argument(
        '--num-heads',
        type=int,
        help='ViT attention heads, used to build the verification model '
        'and the timm kwargs (default: 64-d heads)')
    return parser.parse_args(argv)


def _arch_summary(backbone):
    if backbone_kind(backbone) == 'resnet':
        return dict(type='ResNet', depth=resnet_depth(backbone))
    return dict(type='VisionTransformer', **vit_arch(backbone))


def convert(args):
    """Returns the process exit status."""
    checkpoint, seconds = read_source(args.src)
    state_dict = source_state_dict(checkpoint, args.src)
    log_step(1, f'read {len(state_dict)} tensors in {seconds:.1f} s')

    backbone = encoder_state_dict(state_dict, args.encoder, args.src)
    prefix = ENCODER_PREFIXES[args.encoder]
    dropped = {k for k in state_dict if not k.startswith(prefix)}
    arch = _arch_summary(backbone)
    log_step(
        2, f'{args.encoder} encoder: {len(backbone)} tensors under '
        f"'{prefix}', an mmpretrain {arch}; left out: "
        f'{_count_prefixes(dropped) or "nothing"}')

    log_step(3, f'converting to {args.to}')
    if sys.stdout.isatty():  # a bar per tensor; logs get the steps only
        bar = ProgressBar(len(backbone))
        converted = CONVERTERS[args.to](backbone, bar.update)
        print(flush=True)
    else:
        converted = CONVERTERS[args.to](backbone)

    try:
        model = build_target_model(args.to,
                                   backbone,
                                   num_heads=args.num_heads,
                                   arch=args.arch)
    except (AssertionError, RuntimeError, ValueError, TypeError) as err:
        raise CheckpointConversionError(
            f'Cannot build the {args.to} model to verify the conversion '
            f'({type(err).__name__}: {err}); check --arch/--num-heads.'
        ) from err
    report = verify_conversion(
        model, converted,
        expected_missing_keys(args.to, backbone_kind(backbone)))
    log_step(
        4, f'verified against a randomly initialised '
        f'{type(model).__module__}.{type(model).__name__}: '
        f"{len(converted)} tensors, missing {report['missing']}, unexpected "
        f"{report['unexpected']}, expected missing (target-only parameters) "
        f"{_count_prefixes(report['expected_missing']) or 'none'}")
    if not report['ok']:
        print(
            f'error: the converted weights do not fill the {args.to} '
            f'backbone exactly; {args.dst} was not written.',
            file=sys.stderr)
        return 1

    if args.to == 'timm':
        output = converted
        name, kwargs = timm_model_args(backbone, args.arch, args.num_heads)
        call = ', '.join([repr(name)] +
                         [f'{k}={v!r}' for k, v in kwargs.items()])
        usage = (f'timm.create_model({call}), then '
                 f"model.load_state_dict(torch.load({args.dst!r}), "
                 'strict=False)')
    else:
        output = dict(state_dict=converted,
                      meta=_output_meta(args, checkpoint, arch))
        usage = (f"the backbone's init_cfg=dict(type='Pretrained', "
                 f'checkpoint={args.dst!r}) (keys without prefix)')
        if args.to == 'mmseg':
            usage += (f' or model.pretrained={args.dst!r}; for a ViT, '
                      "backbone type='MAE' with norm_cfg=dict(type='LN', "
                      'eps=1e-6)')
    save_converted(output, args.dst, usage)
    return 0


def _count_prefixes(keys):
    counts = {}
    for key in keys:
        head = key.split('.', 1)[0] + '.*'
        counts[head] = counts.get(head, 0) + 1
    return ', '.join(f'{k} ({n})' for k, n in sorted(counts.items()))


def _output_meta(args, checkpoint, arch):
    """Plain-typed metadata (loadable with weights_only=True)."""
    meta = dict(converted_by='cim_mm tools/model_converters/convert_cim.py',
                source=osp.basename(args.src),
                encoder=args.encoder,
                to=args.to,
                arch=arch)
    source_meta = checkpoint.get('meta', {}) if isinstance(checkpoint,
                                                           dict) else {}
    if isinstance(source_meta, dict):
        for key in ('epoch', 'iter', 'seed', 'experiment_name'):
            if isinstance(source_meta.get(key), (int, str)):
                meta[f'source_{key}'] = source_meta[key]
    return meta


def main(argv=None):
    return run_converter(convert, parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
