"""mmengine's TensorBoard backend, refused at build time when TensorBoard is
not installed."""
from mmengine.registry import VISBACKENDS
from mmengine.visualization import TensorboardVisBackend


@VISBACKENDS.register_module()
class CheckedTensorboardVisBackend(TensorboardVisBackend):
    """``TensorboardVisBackend`` that checks for the ``tensorboard`` package
    when the visualizer is built.

    mmengine's backend imports ``torch.utils.tensorboard`` (which needs the
    ``tensorboard`` package, an optional requirement here:
    ``requirements/tensorboard.txt``) at its first write, i.e. after the
    model, the data and the first iterations. This one raises an
    ``ImportError`` naming the fix when the runner builds it. Everything
    else is mmengine's: scalars (loss, lr, grad_norm, the k-NN accuracy of
    a monitor, validation metrics) and images
    (``CorrelationMapVisualizationHook``'s maps) go to event files in
    ``<work_dir>/<timestamp>/vis_data``. Choose it beside the JSON scalars::

        visualizer = dict(vis_backends=[
            dict(type='LocalVisBackend'),
            dict(type='CheckedTensorboardVisBackend')])

    Registered in mmengine's root registry, so mmpretrain and mmseg configs
    find it.

    Args:
        save_dir (str): Folder of the event files (given by the visualizer).
    """

    def __init__(self, save_dir: str) -> None:
        try:
            import tensorboard  # noqa: F401
        except ImportError as err:
            raise ImportError(
                'CheckedTensorboardVisBackend: the config writes TensorBoard '
                'event files (visualizer.vis_backends), but the tensorboard '
                'package is not installed. Install it with `pip install '
                'tensorboard` (or `pip install -r '
                'requirements/tensorboard.txt`), or remove the backend from '
                'visualizer.vis_backends.') from err
        super().__init__(save_dir)
