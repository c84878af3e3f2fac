"""Count the images the loading step skipped, and stop a run that skips
too many."""
from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SkippedImagesHook(Hook):
    """Log the number of distinct files skipped so far (``skipped_images``
    in the training log lines of each rank) and raise when their share of
    the distinct files tried passes ``max_skipped_fraction``.

    The files come with the batches: ``LoadCheckedImage`` hands the files it
    skipped to the next sample it loads, and ``PackCIMInputs`` puts them in
    that sample's metainfo (``skipped_images``). Tried = loaded
    (``img_path``) + skipped, counted per rank.

    Args:
        max_skipped_fraction (float): Largest tolerated share of skipped
            files, in [0, 1]. Defaults to 0.1.
        min_files (int): Distinct files to try before the share is checked,
            so that a few bad files early on do not stop a run. Defaults to
            20.
    """

    priority = 'NORMAL'

    def __init__(self,
                 max_skipped_fraction: float = 0.1,
                 min_files: int = 20) -> None:
        if not 0.0 <= max_skipped_fraction <= 1.0:
            raise ValueError('SkippedImagesHook: max_skipped_fraction must '
                             f'lie in [0, 1], got {max_skipped_fraction}.')
        if not isinstance(min_files, int) or min_files < 1:
            raise ValueError('SkippedImagesHook: min_files must be a '
                             f'positive int, got {min_files!r}.')
        self.max_skipped_fraction = max_skipped_fraction
        self.min_files = min_files
        self.tried = set()
        self.skipped = {}

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        samples = (data_batch or {}).get('data_samples') or []
        for sample in samples:
            path = sample.get('img_path')
            if path is not None:
                self.tried.add(path)
            for skipped, reason in sample.get('skipped_images', ()):
                self.skipped.setdefault(skipped, reason)
                self.tried.add(skipped)
        runner.message_hub.update_scalar('train/skipped_images',
                                         len(self.skipped))
        tried = len(self.tried)
        if tried < self.min_files:
            return
        share = len(self.skipped) / tried
        if share > self.max_skipped_fraction:
            examples = '; '.join(f'{path}: {reason}' for path, reason in list(
                self.skipped.items())[:5])
            raise RuntimeError(
                f'{len(self.skipped)} of the {tried} distinct image files '
                f'tried so far could not be used ({share:.0%} > '
                f'max_skipped_fraction={self.max_skipped_fraction:.0%}), '
                f'e.g. {examples}. Check that data_root points at your '
                'images, remove the bad files, or raise '
                'SkippedImagesHook.max_skipped_fraction in custom_hooks.')
