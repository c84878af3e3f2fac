from .bf16_optim_wrapper import BF16OptimWrapper, CPUAmpOptimWrapper
from .frozen_aware_constructor import FrozenAwareOptimWrapperConstructor
from .nonfinite_step_guard import NonFiniteStepGuard, supports_found_inf

__all__ = [
    'BF16OptimWrapper', 'CPUAmpOptimWrapper',
    'FrozenAwareOptimWrapperConstructor', 'NonFiniteStepGuard',
    'supports_found_inf'
]
