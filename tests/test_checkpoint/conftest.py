"""Synthetic mmpretrain backbone state dicts for the checkpoint tests."""
import pytest
import torch


def vit_backbone(dims=8, layers=2, mlp=32, patch=4, grid=3, final_norm=True):
    """The names and shapes of an mmpretrain VisionTransformer."""
    state = {
        'cls_token': torch.zeros(1, 1, dims),
        'pos_embed': torch.zeros(1, 1 + grid * grid, dims),
        'patch_embed.projection.weight': torch.zeros(dims, 3, patch, patch),
        'patch_embed.projection.bias': torch.zeros(dims),
    }
    for i in range(layers):
        for name, shape in (('ln1', (dims, )), ('ln2', (dims, ))):
            state[f'layers.{i}.{name}.weight'] = torch.zeros(shape)
            state[f'layers.{i}.{name}.bias'] = torch.zeros(shape)
        state[f'layers.{i}.attn.qkv.weight'] = torch.zeros(3 * dims, dims)
        state[f'layers.{i}.attn.qkv.bias'] = torch.zeros(3 * dims)
        state[f'layers.{i}.attn.proj.weight'] = torch.zeros(dims, dims)
        state[f'layers.{i}.attn.proj.bias'] = torch.zeros(dims)
        state[f'layers.{i}.ffn.layers.0.0.weight'] = torch.zeros(mlp, dims)
        state[f'layers.{i}.ffn.layers.0.0.bias'] = torch.zeros(mlp)
        state[f'layers.{i}.ffn.layers.1.weight'] = torch.zeros(dims, mlp)
        state[f'layers.{i}.ffn.layers.1.bias'] = torch.zeros(dims)
    if final_norm:
        state['ln1.weight'] = torch.zeros(dims)
        state['ln1.bias'] = torch.zeros(dims)
    return state


def resnet_backbone(blocks=(2, 2, 2, 2), bottleneck=False):
    """The names of an mmpretrain ResNet (shapes do not matter here)."""
    convs = ('conv1', 'conv2', 'conv3') if bottleneck else ('conv1', 'conv2')
    state = {'conv1.weight': torch.zeros(1), 'bn1.weight': torch.zeros(1)}
    for stage, n in enumerate(blocks, start=1):
        for b in range(n):
            for conv in convs:
                state[f'layer{stage}.{b}.{conv}.weight'] = torch.zeros(1)
                state[f'layer{stage}.{b}.bn{conv[-1]}.weight'] = torch.zeros(1)
        state[f'layer{stage}.0.downsample.0.weight'] = torch.zeros(1)
        state[f'layer{stage}.0.downsample.1.weight'] = torch.zeros(1)
    return state


@pytest.fixture(name='vit_backbone')
def vit_backbone_fixture():
    return vit_backbone


@pytest.fixture(name='resnet_backbone')
def resnet_backbone_fixture():
    return resnet_backbone
