"""Correlational Image Modeling (CIM) pre-training algorithm."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..heads.tracker_head import TrackerHead


@MODELS.register_module()
class CIM(BaseSelfSupervisor):
    """CIM.

    Implementation of `Correlational Image Modeling for Self-Supervised
    Visual Pre-Training <https://arxiv.org/abs/2303.12670>`_.

    Exemplars cropped from a context are encoded by the online backbone
    (trained by gradient), the context once per image by a target backbone
    (a momentum copy, no gradient); the neck predicts each exemplar's
    correlation map over its context and the head scores it against the
    true map. ``update_target`` is called after every optimizer step by
    ``TargetEMAHook``.

    With a :class:`TrackerHead` (the trackers of Table 4: e.g.
    ``SiameseCorrelation`` + ``SiamFCHead``), the neck's output and the data
    samples go to the head as they are: it derives its targets from the
    samples' ``exemplar_corners`` and returns its own losses and maps.

    Args:
        backbone (dict): Config of the online backbone.
        neck (dict): Config of the correlation decoder.
        head (dict): Config of the correlation loss head.
        bootstrap (str): Encoder roles (Table 2 of the paper):
            ``'online_exemplar'`` (theta -> xi: online encodes exemplars,
            target encodes the context), ``'online_context'`` (xi -> theta:
            online encodes the context, target encodes exemplars) or
            ``'shared'`` (one encoder for both, no target).
            Defaults to ``'online_exemplar'``.
        target_shared_keys (Sequence[str]): Target parameters copied from
            the online backbone instead of averaged: those with one of these
            keys as a dotted component of their name.
            Defaults to ``('cls_token', 'pos_embed')``.
        compile (bool | dict): ``torch.compile`` the backbone, the target
            backbone, the neck and the head in place (``nn.Module.compile``:
            checkpoint keys unchanged); a dict gives ``torch.compile``'s
            options, e.g. ``dict(mode='max-autotune')``. Prefer it to
            mmengine's ``compile=True``, which compiles the whole
            ``train_step`` with the optimizer step (on torch 2.14 Dynamo
            fails there: InternalTorchDynamoError in ``Adam.step``).
            Defaults to False.
        pretrained (str, optional): Checkpoint to load. Defaults to None.
        data_preprocessor (dict, optional): Config of the data preprocessor.
            Defaults to None (``SelfSupDataPreprocessor``).
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to None.
    """

    BOOTSTRAPS = ('online_exemplar', 'online_context', 'shared')

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 bootstrap: str = 'online_exemplar',
                 target_shared_keys: Sequence[str] = ('cls_token',
                                                      'pos_embed'),
                 compile: Union[bool, dict] = False,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if bootstrap not in self.BOOTSTRAPS:
            raise ValueError(f'CIM: bootstrap must be one of {self.BOOTSTRAPS}'
                             f', got {bootstrap!r}.')
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.bootstrap = bootstrap
        self.target_shared_keys = frozenset(target_shared_keys)
        if bootstrap == 'shared':
            self.target_backbone = None
        else:
            self.target_backbone = copy.deepcopy(self.backbone)
            self.target_backbone.requires_grad_(False)
        if compile:
            options = {} if compile is True else dict(compile)
            for part in (self.backbone, self.target_backbone, self.neck,
                         self.head):
                if part is not None:
                    part.compile(**options)

    def init_weights(self) -> None:
        """Initialize, then start the target as an exact online copy."""
        super().init_weights()
        if self.target_backbone is not None:
            self.target_backbone.load_state_dict(self.backbone.state_dict())

    @torch.no_grad()
    def update_target(self, momentum: float,
                      skip: Optional[torch.Tensor] = None) -> None:
        """``xi = m * xi + (1 - m) * theta`` for the target parameters
        (``torch.lerp(xi, theta, 1 - m)``: exact copies at m = 0 and exact
        keeps at m = 1).

        Parameters matching ``target_shared_keys`` and all buffers (e.g. BN
        running statistics) are copied. A no-op with ``bootstrap='shared'``.

        Args:
            momentum (float): m in [0, 1]; 0 copies, 1 keeps the target.
            skip (torch.Tensor, optional): A 0-dim tensor on the parameters'
                device, 1 where the optimizer step was skipped
                (``NonFiniteGuardHook``): the averaged parameters are then
                kept exactly (m = 1), decided on the device (no host
                sync). The copied ones are copied as always: the online ones
                did not change. Defaults to None (no mask).
        """
        if self.target_backbone is None:
            return
        averaged, averaged_src, copied, copied_src = self._target_pairs()
        if averaged:
            weight = 1 - momentum
            if skip is not None:
                weight = [(1 - skip.to(averaged[0].dtype)) * weight
                          ] * len(averaged)
            torch._foreach_lerp_(averaged, averaged_src, weight)
        if copied:
            torch._foreach_copy_(copied, copied_src)

    def _target_pairs(self) -> Tuple[list, list, list, list]:
        """(averaged target tensors, their online sources, copied target
        tensors, their sources), built on the first call and kept: the
        tensors are updated in place, so the lists stay valid through
        ``to()``, ``load_state_dict`` and ``compile``; they are rebuilt when
        the first parameter of either backbone is another object (e.g.
        after ``to()`` with ``overwrite_module_params_on_conversion``)."""
        key = (next(self.backbone.parameters(), None),
               next(self.target_backbone.parameters(), None))
        cached = self.__dict__.get('_target_pair_cache')
        if cached is not None and all(a is b for a, b in zip(cached[0], key)):
            return cached[1]
        online = dict(self.backbone.named_parameters())
        averaged, averaged_src, copied, copied_src = [], [], [], []
        for name, param in self.target_backbone.named_parameters():
            if self.target_shared_keys.intersection(name.split('.')):
                copied.append(param)
                copied_src.append(online[name])
            else:
                averaged.append(param)
                averaged_src.append(online[name])
        online_buffers = dict(self.backbone.named_buffers())
        for name, buffer in self.target_backbone.named_buffers():
            copied.append(buffer)
            copied_src.append(online_buffers[name])
        pairs = (averaged, averaged_src, copied, copied_src)
        # Not an attribute nn.Module tracks (no state dict entry).
        self.__dict__['_target_pair_cache'] = (key, pairs)
        return pairs

    def _encode(self, context: torch.Tensor,
                exemplars: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Last backbone features of the contexts and the exemplars."""
        if self.bootstrap == 'online_exemplar':
            exemplar_feats = self.backbone(exemplars)[-1]
            with torch.no_grad():
                context_feats = self.target_backbone(context)[-1]
        elif self.bootstrap == 'online_context':
            context_feats = self.backbone(context)[-1]
            with torch.no_grad():
                exemplar_feats = self.target_backbone(exemplars)[-1]
        else:
            context_feats = self.backbone(context)[-1]
            exemplar_feats = self.backbone(exemplars)[-1]
        return context_feats, exemplar_feats

    def _predict_logits(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        """[context (B, 3, m, m), K x exemplar (B, 3, n, n)] -> the neck's
        output (``CorrelationDecoder``: logits (B, K, out, out))."""
        context, exemplars = inputs[0], inputs[1:]
        num_exemplars = len(exemplars)
        # K x (B, 3, n, n) -> (B*K, 3, n, n), sample-major
        exemplars = torch.stack(exemplars, dim=1).flatten(0, 1)
        context_feats, exemplar_feats = self._encode(context, exemplars)
        return self.neck(context_feats, exemplar_feats, num_exemplars)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Correlation loss of a batch.

        Args:
            inputs (List[torch.Tensor]): ``[context (B, 3, m, m),
                exemplar_0 (B, 3, n, n), ..., exemplar_{K-1}]``.
            data_samples (List[DataSample]): B samples, each with
                ``corr_maps`` (K, m, m) in {0, 1}.

        Returns:
            Dict[str, torch.Tensor]: ``dict(loss=...)``, or a
            :class:`TrackerHead`'s losses.
        """
        if isinstance(self.head, TrackerHead):
            return self.head.loss(self._predict_logits(inputs), data_samples)
        if any('corr_maps' not in sample for sample in data_samples):
            raise KeyError(
                'CIM.loss: the data samples carry no corr_maps. Use '
                "data_preprocessor=dict(type='CIMDataPreprocessor', ...), "
                'which builds them from exemplar_corners on the device, or '
                "pack them: dict(type='PackCIMInputs') (default "
                'algorithm_keys).')
        logits = self._predict_logits(inputs)
        target = torch.stack([sample.corr_maps for sample in data_samples])
        return dict(loss=self.head.loss(logits, target))

    @torch.no_grad()
    def predict(self, inputs: List[torch.Tensor],
                data_samples: List[DataSample]) -> List[DataSample]:
        """Add ``pred_corr_maps`` (K, m, m) sigmoid probabilities to each of
        the B data samples and return them (a :class:`TrackerHead` gives its
        own maps)."""
        outputs = self._predict_logits(inputs)
        if isinstance(self.head, TrackerHead):
            probs = self.head.predict(outputs, data_samples)
        else:
            probs = outputs.sigmoid()
        for sample, prob in zip(data_samples, probs):
            sample.set_data(dict(pred_corr_maps=prob))
        return data_samples

    def forward(self,
                inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``mode`` is 'tensor' (online backbone features), 'loss' or
        'predict'."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)
