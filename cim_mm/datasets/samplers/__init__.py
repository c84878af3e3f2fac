from .resumable_infinite_sampler import ResumableInfiniteSampler
from .resumable_sampler import ResumableSampler
from .sample_key import SampleKey, seed_sample_rngs

__all__ = [
    'ResumableInfiniteSampler', 'ResumableSampler', 'SampleKey',
    'seed_sample_rngs'
]
