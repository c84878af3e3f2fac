"""Watch CIM learn: a few fixed training pairs, drawn with the current
model's predictions every N iterations."""
import random

import numpy as np
import torch
from mmengine.dataset import default_collate
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmpretrain.registry import HOOKS

from cim_mm.visualization import correlation_rows


@HOOKS.register_module()
class CorrelationMapVisualizationHook(Hook):
    """Every ``interval`` iterations, add an image of ``num_pairs`` fixed
    training pairs (exemplar | true map | predicted map, see
    :func:`cim_mm.visualization.correlation_rows`) to the runner's
    visualizer, i.e. to every configured mmengine visualisation backend
    (``LocalVisBackend``: ``<work_dir>/<timestamp>/vis_data/vis_image/
    correlation_maps_<iter>.png``; TensorBoard or W&B when the config adds
    them).

    The pairs are drawn once, before training, from the training set with
    their own seed, the global random states saved and restored around the
    draw, so the training itself is unchanged. Each drawing is one forward
    pass of the model (eval mode, no gradient) on those pairs, on the main
    process only: no data loading during training.

    Args:
        interval (int): Iterations between drawings. Defaults to 500.
        num_pairs (int): Contexts drawn. Defaults to 2.
        exemplars_per_pair (int): Exemplars shown per context. Defaults to
            2.
        seed (int): Seed of the draw. Defaults to 0.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 500,
                 num_pairs: int = 2,
                 exemplars_per_pair: int = 2,
                 seed: int = 0) -> None:
        for name, value in (('interval', interval), ('num_pairs', num_pairs),
                            ('exemplars_per_pair', exemplars_per_pair)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'CorrelationMapVisualizationHook: {name} '
                                 f'must be a positive int, got {value!r}.')
        self.interval = interval
        self.num_pairs = num_pairs
        self.exemplars_per_pair = exemplars_per_pair
        self.seed = seed
        self.batch = None

    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        dataset = runner.train_dataloader.dataset
        states = (random.getstate(), np.random.get_state(),
                  torch.get_rng_state())
        try:
            random.seed(self.seed)
            np.random.seed(self.seed)
            torch.manual_seed(self.seed)
            picks = random.Random(self.seed).sample(
                range(len(dataset)), min(self.num_pairs, len(dataset)))
            self.batch = default_collate([dataset[i] for i in picks])
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self.draw(runner)

    def draw(self, runner) -> np.ndarray:
        """Add the image at the current iteration and return it (RGB)."""
        if self.batch is None:
            return None
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        preprocessor = model.data_preprocessor
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                build = getattr(preprocessor, 'build_pairs',
                                preprocessor.cast_data)
                raw = build(dict(self.batch))
                data = preprocessor(dict(raw), training=False)
                samples = model.predict(data['inputs'], data['data_samples'])
        finally:
            model.train(was_training)
        image = correlation_rows(
            raw['inputs'][0], raw['inputs'][1:],
            torch.stack([s.corr_maps for s in samples]),
            torch.stack([s.pred_corr_maps for s in samples]),
            self.exemplars_per_pair)
        runner.visualizer.add_image(
            'correlation_maps', image, step=runner.iter + 1)
        return image
