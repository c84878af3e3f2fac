"""Convert the CIM authors' released checkpoints for cim_mm / mmpretrain.

    python tools/model_converters/cim_release_to_mmpretrain.py SRC DST

SRC is a checkpoint of the official release (weivision/Correlational-Image-
Modeling, downloaded by hand): ``{'model': ..., 'optimizer': ..., 'epoch':
..., 'scaler': ..., 'args': argparse.Namespace}``, ``{'model': ...}`` or a
bare state dict. It is read by :func:`cim_mm.checkpoint.read_checkpoint`:
weights only, plus the ``argparse.Namespace``, nothing else. The kind and
the arch are read from the keys and shapes:

* pre-trained (``CorrelationalAutoencoderViT``) -> a cim_mm CIM checkpoint
  (``backbone.*``, ``target_backbone.*``, ``neck.*``) for
  ``configs/cim_vitb_300e_release.py`` (model zoo:
  ``cim_vit-base-p16_3rdparty-300e_in1k``): the correlation inferencer,
  ``tools/infer_correlation.py``, ``convert_cim.py`` (to mmpretrain, mmseg,
  timm) and fine-tuning take it;
* fine-tuned (timm ViT, global pooling) -> an mmpretrain ImageClassifier
  checkpoint (``backbone.*``, ``head.fc.*``) for
  ``configs/finetune/vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py``
  (``vit-base-p16_cim-pre_3rdparty_in1k``): ``tools/test.py``,
  ``eval_robustness.py`` and ``convert_cim.py --to mmseg`` take it.

What is not a renaming (see :mod:`cim_mm.checkpoint.release`): the 2-channel
predictor becomes one logit ``W[1] - W[0]``; the decoder's channels are
permuted to cim_mm's sin-cos layout; the decoder's shared LayerNorm is
copied into ``norm_query`` and ``norm_key_value``; ``decoder_pos_embed`` is
checked against the fixed table and dropped; the unused contrastive branch
is dropped.

The output is loaded strictly into the model the config builds before it is
written; the tool exits with 1 (and writes nothing) if a key is missing or
left unused, and with 2 if SRC cannot be read or is not a release
checkpoint.
"""
import argparse
import copy
import os.path as osp
import sys

# CIM's components and the 2026-stack adaptations (docs/stack.md)
import cim_mm.compat.enable  # noqa: F401
from cim_mm.checkpoint import (CheckpointConversionError, describe_prefixes,
                               verify_conversion)
from cim_mm.checkpoint.cli import (log_step, read_source, run_converter,
                                   save_converted)
from cim_mm.checkpoint.release import (RELEASE_DECODER_NUM_HEADS,
                                       convert_finetuned, convert_pretrained,
                                       release_arch, release_decoder_arch,
                                       release_kind, release_state_dict)

# model-zoo entries (configs/metafile.yml) the outputs are for
MODELS = {
    'pre-trained': ('cim_vit-base-p16_3rdparty-300e_in1k',
                    'configs/cim_vitb_300e_release.py'),
    'fine-tuned': ('vit-base-p16_cim-pre_3rdparty_in1k', 'configs/finetune/'
                   'vit-base-p16_cim-pre_8xb256-amp-coslr-100e_in1k.py'),
}
# what those configs build: a release ViT-B/16 at 224 px, 160 px contexts
_VITB = dict(embed_dims=768,
             num_layers=12,
             num_heads=12,
             feedforward_channels=3072,
             patch_size=16,
             img_size=224)
_CONTEXT_SIZE = 160
_NUM_CLASSES = 1000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert an official CIM release checkpoint (pre-trained"
        ' or fine-tuned) for cim_mm / mmpretrain.')
    parser.add_argument('src', help='release checkpoint (.pth)')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--num-heads',
        type=int,
        help='encoder heads, not in the weights (default: the release arch '
        'of that width: 192-d 3, 384-d 6, 768-d 12, 1024/1280-d 16)')
    parser.add_argument(
        '--decoder-num-heads',
        type=int,
        help=f'decoder heads (default: {RELEASE_DECODER_NUM_HEADS}, as every '
        'release arch)')
    return parser.parse_args(argv)


def model_overrides(kind, arch, decoder=None, num_classes=None):
    """Changes to the config's model (``get_model`` kwargs) for weights that
    are not the release's ViT-B/16 with 160 px contexts (empty for it)."""
    overrides = {}
    if any(arch[k] != v for k, v in _VITB.items()):
        shape = {
            k: arch[k]
            for k in ('embed_dims', 'num_layers', 'num_heads',
                      'feedforward_channels')
        }
        overrides['backbone'] = dict(
            arch=dict(shape, _delete_=True),  # replaces the config's 'base'
            img_size=arch['img_size'],
            patch_size=arch['patch_size'])
    if kind == 'pre-trained':
        neck = dict(in_channels=decoder['in_channels'],
                    embed_dim=decoder['embed_dim'],
                    num_heads=decoder['num_heads'],
                    mlp_ratio=decoder['mlp_ratio'],
                    out_size=decoder['context_size'])
        if neck != dict(in_channels=768,
                        embed_dim=512,
                        num_heads=16,
                        mlp_ratio=4.0,
                        out_size=_CONTEXT_SIZE):
            overrides['neck'] = neck
    elif num_classes != _NUM_CLASSES or arch['embed_dims'] != 768:
        overrides['head'] = dict(num_classes=num_classes,
                                 in_channels=arch['embed_dims'])
    return overrides


def build_model(kind, overrides):
    """The model of the config the output is for (random weights)."""
    import cim_mm.apis  # noqa: F401  (registers the model zoo)
    from mmpretrain import get_model
    return get_model(MODELS[kind][0], **copy.deepcopy(overrides))


def _context_size(checkpoint, decoder):
    """The release's context size: its args' ``context_size`` when it fits
    the decoder's grid, else grid x patch."""
    grid, patch = decoder['context_grid'], decoder['patch_size']
    release_args = checkpoint.get('args') if isinstance(checkpoint,
                                                        dict) else None
    given = getattr(release_args, 'context_size', None)
    if isinstance(given, int) and given // patch == grid:
        return given
    return grid * patch


def _arch_name(arch):
    if arch['name'] is None:
        return 'no release arch'
    return f"the release's vit_{arch['name']}_patch{arch['patch_size']}"


def convert(args):
    """Returns the process exit status."""
    checkpoint, seconds = read_source(args.src)
    state = release_state_dict(checkpoint, args.src)
    extras = sorted(k for k in checkpoint if k != 'model') if isinstance(
        checkpoint, dict) and 'model' in checkpoint else []
    log_step(
        1, f'read {len(state)} tensors in {seconds:.1f} s' +
        (f"; also in the file: {', '.join(extras)} (not converted)"
         if extras else ''))

    kind = release_kind(state, args.src)
    arch = release_arch(state, args.num_heads)
    summary = (f"{arch['embed_dims']}-d, {arch['num_layers']} blocks, "
               f"{arch['num_heads']} heads, MLP {arch['feedforward_channels']}"
               f", {arch['patch_size']} px patches, {arch['img_size']} px "
               f'position embedding: {_arch_name(arch)}')
    decoder = None
    if kind == 'pre-trained':
        decoder = release_decoder_arch(state, args.decoder_num_heads)
        decoder['context_size'] = _context_size(checkpoint, decoder)
        summary += (
            f"; decoder {decoder['embed_dim']}-d, {decoder['num_heads']} "
            f"heads, {decoder['context_grid']}x{decoder['context_grid']} "
            f"context grid ({decoder['context_size']} px contexts)")
    log_step(
        2, f'a {kind} CIM release ViT ({describe_prefixes(state)}); {summary}')
    if decoder and decoder['context_size'] % arch['patch_size']:
        print(
            f"warning: {decoder['context_size']} px contexts are not a "
            f"multiple of the {arch['patch_size']} px patches: the release "
            "drops the last pixels, mmpretrain's patch embedding pads "
            'them, so the converted model does not compute the same maps.',
            file=sys.stderr)

    if kind == 'pre-trained':
        converted, report = convert_pretrained(state, args.decoder_num_heads)
        num_classes = None
        log_step(
            3, 'converted: encoder names from timm to mmpretrain '
            '(backbone.*: online, target_backbone.*: EMA target with the '
            'shared cls token and position embedding); decoder channels '
            "permuted to mmpretrain's sin-cos layout; the shared decoder "
            'norm1 copied into norm_query and norm_key_value; the 2-channel '
            'predictor as one logit W[1] - W[0]; decoder_pos_embed checked '
            "(max |delta| to the fixed table "
            f"{report['decoder_pos_embed_delta']:.1e}) and dropped; dropped "
            'the unused contrastive branch: '
            f"{describe_prefixes(report['dropped']) or 'nothing'}")
    else:
        converted, report = convert_finetuned(state)
        num_classes = state['head.weight'].shape[0]
        log_step(
            3, 'converted: encoder names from timm to mmpretrain '
            '(backbone.*), fc_norm -> backbone.ln2 (avg_featmap), head -> '
            f'head.fc ({num_classes} classes)')
    log_step(
        3, "pos_embed kept as it is (max |delta| to the release's sin-cos "
        f"table {report['pos_embed_delta']:.1e})")
    if report['unused']:
        print(
            f"error: {len(report['unused'])} keys of {args.src} fit no part"
            f" of the model: {report['unused'][:8]}; {args.dst} was not "
            'written.',
            file=sys.stderr)
        return 1

    name, config = MODELS[kind]
    overrides = model_overrides(kind, arch, decoder, num_classes)
    try:
        model = build_model(kind, overrides)
    except (AssertionError, RuntimeError, ValueError, TypeError) as err:
        raise CheckpointConversionError(
            f'Cannot build {config} for these weights ({type(err).__name__}:'
            f' {err}); check --num-heads/--decoder-num-heads.') from err
    result = verify_conversion(model, converted)
    log_step(
        4, f'loaded strictly into {type(model).__name__} of {config}' +
        (f' with model overrides {overrides}' if overrides else '') +
        f": {len(converted)} tensors, missing {result['missing']}, "
        f"unexpected {result['unexpected']}")
    if not result['ok']:
        print(
            f'error: the converted weights do not fill the model of '
            f'{config} exactly; {args.dst} was not written.',
            file=sys.stderr)
        return 1

    meta = dict(converted_by='cim_mm tools/model_converters/'
                'cim_release_to_mmpretrain.py',
                source=osp.basename(args.src),
                kind=kind,
                config=config,
                model_zoo_name=name,
                arch={
                    k: v
                    for k, v in arch.items() if v is not None
                })
    if overrides:
        meta['model_overrides'] = repr(overrides)
    if isinstance(checkpoint, dict):
        if isinstance(checkpoint.get('epoch'), int):
            meta['source_epoch'] = checkpoint['epoch']
        release_model = getattr(checkpoint.get('args'), 'model', None)
        if isinstance(release_model, str):
            meta['source_model'] = release_model
    if kind == 'pre-trained':
        usage = (f'CorrelationInferencer({name!r}, pretrained={args.dst!r}), '
                 f'tools/infer_correlation.py {config} {args.dst} IMAGE '
                 '--box X0 Y0 X1 Y1, or tools/model_converters/'
                 f'convert_cim.py {args.dst} OUT --to mmpretrain|mmseg|timm')
    else:
        usage = (f'tools/test.py {config} {args.dst}, or mmpretrain.'
                 f'get_model({name!r}, pretrained={args.dst!r})')
    if overrides:
        usage += f' (with the model overrides {overrides})'
    save_converted(dict(state_dict=converted, meta=meta), args.dst, usage)
    return 0


def main(argv=None):
    return run_converter(convert, parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
