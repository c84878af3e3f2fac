"""The CIM authors' release checkpoints as cim_mm / mmpretrain state dicts.

* :mod:`.recognition` - what a file is (a release state dict, its kind and
  arch; other checkpoints named in the error);
* :mod:`.conversion` - a recognised state dict converted.

The release (``weivision/Correlational-Image-Modeling``, an MAE-style code
base on timm) saves ``{'model': state_dict, 'optimizer', 'epoch', 'scaler',
'args': argparse.Namespace}``. Two kinds of state dict:

* **pre-trained** ``CorrelationalAutoencoderViT``: the online encoder in timm
  names (``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.*``,
  ``norm``), the EMA target as ``patch_embed_c`` / ``blocks_c`` / ``norm_c``
  (sharing the online cls token and position embedding), the correlation
  decoder (``decoder_embed``, ``decoder_pos_embed``, ``decoder_corr_block``,
  ``decoder_norm``, ``decoder_pred_mask.0``) and an unused contrastive
  branch (``decoder_g_embed*``, ``decoder_predictor``);
* **fine-tuned** timm ``VisionTransformer`` with global average pooling
  (``fc_norm``, ``head``).

Pure functions on state dicts, as :mod:`cim_mm.checkpoint.key_maps`: a pre-trained one
becomes a ``CIM`` state dict (``backbone.*``, ``target_backbone.*``,
``neck.*``) computing the release's function, a fine-tuned one an mmpretrain
``ImageClassifier`` state dict (``backbone.*``, ``head.fc.*``). What is not a
renaming:

* the 2-channel softmax predictor is one sigmoid logit ``W[1] - W[0]``,
  ``b[1] - b[0]`` (class 1 is the exemplar's region; bilinear upsampling is
  linear, so it commutes with the difference);
* the release's 2-D sin-cos table is ``[sin, cos](x), [sin, cos](y)`` and
  mmpretrain's (which :class:`CorrelationDecoder` builds at run time)
  ``[sin, cos](y), [sin, cos](x)``: the decoder's channels are permuted
  (:func:`sincos_channel_order`), which gives the same function;
* the release's decoder block has one LayerNorm for queries and keys/values:
  it is copied into ``norm_query`` and ``norm_key_value``;
* ``decoder_pos_embed`` is checked against the expected table, then dropped.
"""
from .conversion import (SINCOS_ATOL, convert_finetuned, convert_pretrained,
                         release_sincos_table, sincos_channel_order)
from .recognition import (RELEASE_ARCHS, RELEASE_DECODER_NUM_HEADS,
                          ReleaseCheckpointError, release_arch,
                          release_decoder_arch, release_kind,
                          release_state_dict)

__all__ = [
    'ReleaseCheckpointError', 'RELEASE_ARCHS', 'RELEASE_DECODER_NUM_HEADS',
    'SINCOS_ATOL', 'release_state_dict', 'release_kind', 'release_arch',
    'release_decoder_arch', 'release_sincos_table', 'sincos_channel_order',
    'convert_pretrained', 'convert_finetuned'
]
