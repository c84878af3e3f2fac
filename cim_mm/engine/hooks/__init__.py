from .target_ema_hook import TargetEMAHook

__all__ = ['TargetEMAHook']
