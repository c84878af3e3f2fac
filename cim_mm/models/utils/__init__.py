from .checkpoint_conversion import (  # noqa: F401
    CheckpointConversionError, build_target_model, encoder_state_dict,
    expected_missing_keys, load_weights_only, mmpretrain_backbone,
    mmpretrain_to_mmseg, mmpretrain_to_timm, verify_conversion)

__all__ = [
    'CheckpointConversionError', 'build_target_model', 'encoder_state_dict',
    'expected_missing_keys', 'load_weights_only', 'mmpretrain_backbone',
    'mmpretrain_to_mmseg', 'mmpretrain_to_timm', 'verify_conversion'
]
