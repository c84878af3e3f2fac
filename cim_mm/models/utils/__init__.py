"""Batched tensor operations of the CIM model and its data preprocessor."""
from .bilinear_upsample import bilinear_upsample
from .correlation_maps import rasterize_correlation_maps
from .exemplar_photometric import apply_exemplar_photometric
from .feature_tokens import check_exemplar_count, to_tokens, tokens_to_maps
from .pair_synthesis import (resize_context, sample_exemplars,
                             synthesise_batch, synthesise_pairs)

__all__ = [
    'bilinear_upsample', 'rasterize_correlation_maps', 'resize_context',
    'sample_exemplars', 'synthesise_batch', 'synthesise_pairs',
    'apply_exemplar_photometric', 'to_tokens', 'tokens_to_maps',
    'check_exemplar_count'
]
