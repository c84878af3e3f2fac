"""One-shot localisation with a pre-trained CIM model.

Given an image and a query (a box of that image, or another image), the
exemplar is encoded by the online backbone, the whole image (the context)
by the target backbone, and the decoder predicts where the exemplar is: a
correlation map over the image, thresholded into a box.

Geometry (non-square images): the context is the whole image resized to the
model's square ``context_size`` (aspect not kept; training contexts are
search crops of aspect 3/4..4/3 resized to a square as well), the exemplar is
the box's pixels (cropped from the original image) or the other image,
resized to the square ``exemplar_size`` (aspect not kept, like the training
exemplars of shape 1/3..3). The predicted map (context resolution) is
resized back to the image's own width and height, so boxes are in input
pixels. Both sizes come from the config's train pipeline
(``DrawCorrelationalPair``).
"""
import copy
import os.path as osp
import warnings
from collections.abc import Mapping
from typing import Callable, List, Optional, Sequence, Tuple, Union

import cv2
import mmengine
import numpy as np
import torch
from mmengine.config import Config
from mmpretrain.apis import BaseInferencer, ModelHub, get_model
from mmpretrain.datasets.transforms import PackInputs
from mmpretrain.structures import DataSample

from cim_mm.checkpoint import load_cim_checkpoint
from cim_mm.compat.model_hub import registered_models
from cim_mm.models.algorithms import CIM
from .correlation_box import (check_threshold, correlation_sizes, crop_box,
                              draw_overlay, largest_region, read_bgr,
                              resize_map, resize_square)

__all__ = ['CorrelationInferencer', 'json_result']


def json_result(result: dict) -> dict:
    """A result of :class:`CorrelationInferencer` without its arrays."""
    return {k: v for k, v in result.items() if k != 'pred_map'}


class CorrelationInferencer(BaseInferencer):
    """Where in an image is an exemplar? One-shot localisation with CIM.

    Args:
        model (str | Config | BaseModel): A CIM pre-training config (path or
            :obj:`Config`), a model-zoo name (``CorrelationInferencer.
            list_models()``) or a built CIM model.
        pretrained (str, optional): The checkpoint, loaded strictly by
            :func:`cim_mm.checkpoint.load_cim_checkpoint`. No CIM weights are released, so a
            model-zoo name needs a local file too (for the authors' model,
            ``'cim_vit-base-p16_3rdparty-300e_in1k'``, their checkpoint
            converted by ``tools/model_converters/
            cim_release_to_mmpretrain.py``). None keeps random weights
            (with a warning). Defaults to None.
        device (str | torch.device, optional): Defaults to None (CPU).
        threshold (float): Default probability threshold of the box.
            Defaults to 0.5.
        context_size (int, optional): Overrides the config's context size.
        exemplar_size (int, optional): Overrides the config's exemplar size.
        **kwargs: Overrides of the model config (model-zoo names, configs).

    Example:
        >>> inferencer = CorrelationInferencer(
        ...     'configs/cim_demo.py',
        ...     pretrained='work_dirs/cim_demo/iter_600.pth')
        >>> result = inferencer('photo.jpg', box=(40, 30, 120, 90))[0]
        >>> result['box'], result['score'], result['pred_map'].shape
        ([38, 25, 131, 97], 0.81, (H, W))
        >>> inferencer('photo.jpg', exemplar='crop.png', out_dir='out')

    Each result: ``box`` ([x0, y0, x1, y1] in pixel edges of the image, the
    bounding box of the largest 8-connected region of the map above the
    threshold; None when no pixel passes), ``score`` (the mean probability
    inside that region; None without region), ``area`` (its pixels),
    ``peak`` (the map's largest probability), ``pred_map`` ((H, W) float32
    sigmoid probabilities at the image's size), the query (``image``,
    ``query_box`` or ``exemplar``), ``threshold``, and with ``out_dir`` the
    paths ``map`` (8-bit PNG of the probabilities) and ``overlay``.
    """

    forward_kwargs: set = {'threshold'}
    visualize_kwargs: set = {'out_dir'}

    def __init__(self,
                 model,
                 pretrained: Optional[str] = None,
                 device: Union[str, torch.device, None] = None,
                 threshold: float = 0.5,
                 context_size: Optional[int] = None,
                 exemplar_size: Optional[int] = None,
                 **kwargs) -> None:
        if pretrained is True:
            raise ValueError(
                'No CIM weights are released: pass pretrained= a local '
                'checkpoint (the iter_N.pth / epoch_N.pth of a CIM run, or '
                "the authors' checkpoint converted by tools/model_converters/"
                'cim_release_to_mmpretrain.py).')
        if isinstance(model, torch.nn.Module):
            if kwargs:
                raise ValueError('Model config overrides need a config or a '
                                 'model-zoo name, not a built model.')
        else:
            if isinstance(model, str):
                model = (Config.fromfile(model) if model.endswith('.py') else
                         ModelHub.get(model).config)
            # a copy: get_model merges kwargs into it
            cfg = copy.deepcopy(model)
            if 'test_dataloader' in cfg and not cfg.test_dataloader:
                cfg.pop('test_dataloader')  # get_model reads its dataset
            model = get_model(cfg, pretrained=False, **kwargs)
        if not hasattr(model, '_config'):  # built without get_model
            model._config = Config()
        if not isinstance(model, CIM):
            raise TypeError(
                'CorrelationInferencer needs a CIM pre-training model '
                f"(model.type='CIM'), got {type(model).__name__}.")
        if pretrained:
            load_cim_checkpoint(model, pretrained)
        else:
            warnings.warn('CorrelationInferencer: no checkpoint, the model '
                          'keeps random weights; its maps mean nothing.')
        self.threshold = check_threshold(threshold)
        self._sizes = (context_size, exemplar_size)
        super().__init__(model, pretrained=False, device=device)

    # -- pipeline --------------------------------------------------------
    def _init_pipeline(self, cfg: Config) -> Callable:
        if None in self._sizes:
            found = correlation_sizes(cfg)
            self._sizes = tuple(s or f for s, f in zip(self._sizes, found))
        self.context_size, self.exemplar_size = self._sizes
        # inputs [context (3, m, m), exemplar (3, n, n)]: a pair already
        # built, which the data preprocessor only normalises
        self._pack = PackInputs(
            input_key='pair',
            algorithm_keys=(),
            meta_keys=('img_path', 'ori_shape', 'img_shape', 'query_box',
                       'exemplar_path'))
        return self._pack_query

    def load_query(self, query: dict) -> Tuple[np.ndarray, np.ndarray,
                                               Optional[List[int]]]:
        """A query -> image (H, W, 3), exemplar (n, n, 3) (uint8 BGR) and
        the whole-pixel query box (None for an exemplar image)."""
        image = read_bgr(query['image'], 'image')
        n = self.exemplar_size
        if query.get('box') is not None:
            h, w = image.shape[:2]
            try:
                box = crop_box(query['box'], w, h)
            except ValueError as err:
                name = query['image'] if isinstance(query['image'],
                                                    str) else 'the image'
                raise ValueError(f'{name}: {err}') from None
            crop = image[box[1]:box[3], box[0]:box[2]]
            return image, resize_square(crop, n), box
        return image, resize_square(
            read_bgr(query['exemplar'], 'exemplar image'), n), None

    def _pack_query(self, query: dict) -> dict:
        image, exemplar, box = self.load_query(query)
        m = self.context_size
        exemplar_path = query.get('exemplar')
        return self._pack(
            dict(pair=[resize_square(image, m), exemplar],
                 img_path=query['image']
                 if isinstance(query['image'], str) else None,
                 ori_shape=image.shape[:2],
                 img_shape=(m, m),
                 query_box=box,
                 exemplar_path=exemplar_path
                 if isinstance(exemplar_path, str) else None))

    # -- inference -------------------------------------------------------
    def __call__(self,
                 inputs,
                 box: Optional[Sequence[float]] = None,
                 exemplar=None,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 **kwargs) -> list:
        """Localise exemplars.

        Args:
            inputs: an image (path or H x W x 3 BGR array), a query dict
                ``dict(image=..., box=[x0, y0, x1, y1])`` or ``dict(
                image=..., exemplar=path_or_array)``, or a list of them.
            box (Sequence[float], optional): The query of every image given
                without one: a box of the image itself (pixel edges).
            exemplar (str | np.ndarray, optional): Or another image.
            threshold (float, optional): Overrides the default threshold.
            out_dir (str, optional): Write ``<name>_map.png`` and
                ``<name>_overlay.png`` there.

        Returns:
            list[dict]: One result per query (see the class docstring), or
            the data samples with ``return_datasamples=True``.
        """
        if box is not None and exemplar is not None:
            raise ValueError('Give either box= or exemplar=, not both.')
        queries = []
        for item in (inputs if isinstance(inputs, (list, tuple)) else
                     [inputs]):
            query = dict(item) if isinstance(item, Mapping) else dict(
                image=item)
            if query.get('box') is None and query.get('exemplar') is None:
                query.update(box=box, exemplar=exemplar)
            if (query.get('box') is None) == (query.get('exemplar') is None):
                raise ValueError(
                    'Each query needs exactly one of box=[x0, y0, x1, y1] '
                    '(a box of the image) and exemplar= (another image).')
            queries.append(query)
        return super().__call__(queries, return_datasamples, batch_size,
                                **kwargs)

    @torch.no_grad()
    def forward(self, data: dict, threshold: Optional[float] = None
                ) -> List[DataSample]:
        """Predict, then add ``pred_map`` (H, W) and the region to each
        sample. The exemplar's true place is unknown (no
        ``exemplar_corners``), so only the pixels go through the model's
        data preprocessor (BGR -> RGB, mean/std, device)."""
        threshold = check_threshold(
            self.threshold if threshold is None else threshold)
        samples = data['data_samples']
        batch = self.model.data_preprocessor(
            dict(inputs=data['inputs'], data_samples=None), False)
        samples = self.model(batch['inputs'], samples, mode='predict')
        for sample in samples:
            h, w = sample.ori_shape
            prob = resize_map(sample.pred_corr_maps[0].float().cpu().numpy(),
                              w, h)
            region = largest_region(prob, threshold)
            sample.set_field(prob, 'pred_map', field_type='data')
            sample.set_metainfo(dict(region=region, threshold=threshold))
        return samples

    def visualize(self, ori_inputs: List[dict], preds: List[DataSample],
                  out_dir: Optional[str] = None) -> Optional[list]:
        """Write each map (8-bit PNG) and overlay (:func:`draw_overlay`) to
        ``out_dir``; return the overlays (RGB), or None without out_dir."""
        if out_dir is None:
            return None
        mmengine.mkdir_or_exist(out_dir)
        overlays = []
        for i, (query, sample) in enumerate(zip(ori_inputs, preds)):
            image, exemplar, query_box = self.load_query(query)
            region = sample.region
            overlay = draw_overlay(image, sample.pred_map, exemplar,
                                   region.box, region.score, query_box)
            name = osp.join(out_dir, self._name(query, query_box, i))
            map_path, overlay_path = f'{name}_map.png', f'{name}_overlay.png'
            cv2.imwrite(map_path,
                        np.round(sample.pred_map * 255).astype(np.uint8))
            cv2.imwrite(overlay_path, overlay)
            sample.set_metainfo(dict(map_path=map_path,
                                     overlay_path=overlay_path))
            overlays.append(overlay[..., ::-1])
        return overlays

    @staticmethod
    def _name(query: dict, query_box: Optional[List[int]], index: int) -> str:
        image = query['image']
        stem = (osp.splitext(osp.basename(image))[0]
                if isinstance(image, str) else f'image{index}')
        if query_box is not None:
            return stem + '_box{}_{}_{}_{}'.format(*query_box)
        exemplar = query['exemplar']
        return stem + '_exemplar_' + (osp.splitext(osp.basename(exemplar))[0]
                                      if isinstance(exemplar, str) else
                                      str(index))

    def postprocess(self, preds: List[DataSample], visualization,
                    return_datasamples: bool = False) -> list:
        if return_datasamples:
            return preds
        results = []
        for sample in preds:
            region = sample.region
            results.append(dict(
                image=sample.get('img_path'),
                query_box=sample.get('query_box'),
                exemplar=sample.get('exemplar_path'),
                box=region.box,
                score=region.score,
                area=region.area,
                peak=region.peak,
                threshold=sample.threshold,
                map=sample.get('map_path'),
                overlay=sample.get('overlay_path'),
                pred_map=sample.pred_map))
        return results

    @staticmethod
    def list_models(pattern: Optional[str] = None) -> List[str]:
        """The CIM pre-training models of the model zoo (``pattern``: a
        wildcard, e.g. ``'*vit-base*'``)."""
        from fnmatch import fnmatch

        from . import CIM_MODELS
        hub = registered_models()
        return [
            name for name in CIM_MODELS
            if name in hub and not hub[name].results and (
                pattern is None or fnmatch(name, pattern.lower()))
        ]
