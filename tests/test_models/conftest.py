"""Tiny CIM models and batches shared by the model tests (CPU, seconds)."""
import pytest
import torch
from mmpretrain.structures import DataSample

import cim_mm  # noqa: F401  (registers the CIM modules)

TINY_VIT = dict(
    embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)


@pytest.fixture
def tiny_cim_cfg():
    """Factory of a tiny ViT CIM config; keyword args override top keys."""

    def make(**overrides):
        cfg = dict(
            type='CIM',
            backbone=dict(type='CIMViT', arch=TINY_VIT),
            neck=dict(
                type='CorrelationDecoder',
                in_channels=64,
                embed_dim=32,
                num_heads=2,
                out_size=160),
            head=dict(type='CorrelationHead'))
        cfg.update(overrides)
        return cfg

    return make


@pytest.fixture
def make_batch():
    """Factory of ``(inputs, data_samples)`` as the data pipeline gives."""

    def make(batch_size=2, num_exemplars=3, context_size=160,
             exemplar_size=64):
        context = torch.randn(batch_size, 3, context_size, context_size)
        exemplars = [
            torch.randn(batch_size, 3, exemplar_size, exemplar_size)
            for _ in range(num_exemplars)
        ]
        data_samples = []
        for _ in range(batch_size):
            sample = DataSample()
            sample.set_data(
                dict(corr_maps=torch.randint(
                    0, 2, (num_exemplars, context_size, context_size),
                    dtype=torch.uint8)))
            data_samples.append(sample)
        return [context] + exemplars, data_samples

    return make
