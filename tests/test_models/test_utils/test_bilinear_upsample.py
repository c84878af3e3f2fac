"""The decoder's matmul upsampling is F.interpolate(bilinear,
align_corners=True): same outputs and gradients."""
import pytest
import torch
import torch.nn.functional as F

from cim_mm.models.necks import correlation_decoder
from cim_mm.models.necks.correlation_decoder import CorrelationDecoder
from cim_mm.models.utils.bilinear_upsample import bilinear_upsample


def interpolate(x, size):
    return F.interpolate(x, size=(size, size), mode='bilinear',
                         align_corners=True)


@pytest.mark.parametrize('shape,size', [
    ((12, 1, 10, 10), 160),  # ViT-B/16: 160 px context, 10x10 tokens
    ((4, 1, 5, 5), 160),  # ResNet-50 stage 4
    ((4, 3, 6, 4), 96),  # non-square, several channels
    ((2, 1, 1, 1), 8),  # one token
    ((2, 1, 10, 10), 10),  # identity
])
def test_outputs_and_gradients_match_f_interpolate(shape, size):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64, generator=generator,
                    requires_grad=True)
    grad_out = torch.randn(*shape[:2], size, size, dtype=torch.float64,
                           generator=generator)
    expected = interpolate(x, size)
    actual = bilinear_upsample(x, size)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-12)
    grad_expected, = torch.autograd.grad(expected, x, grad_out)
    grad_actual, = torch.autograd.grad(actual, x, grad_out)
    torch.testing.assert_close(grad_actual, grad_expected, rtol=0,
                               atol=1e-10)


def test_float32_within_rounding_and_dtype_kept():
    x = torch.randn(6, 1, 10, 10, generator=torch.Generator().manual_seed(1))
    actual = bilinear_upsample(x, 160)
    assert actual.dtype == torch.float32 and actual.shape == (6, 1, 160, 160)
    torch.testing.assert_close(actual, interpolate(x, 160))


def test_decoder_output_and_gradients_unchanged(monkeypatch):
    torch.manual_seed(0)
    decoder = CorrelationDecoder(in_channels=32, embed_dim=32, num_heads=4,
                                 out_size=64).double()
    context = torch.randn(2, 1 + 16, 32, dtype=torch.float64,
                          requires_grad=True)
    exemplar = torch.randn(6, 1 + 4, 32, dtype=torch.float64)

    def run():
        decoder.zero_grad()
        out = decoder(context, exemplar, num_exemplars=3)
        grad, = torch.autograd.grad(out.square().sum(), context,
                                    retain_graph=True)
        out.square().sum().backward()
        return out, grad, decoder.predictor.weight.grad.clone()

    new = run()
    monkeypatch.setattr(correlation_decoder, 'bilinear_upsample',
                        interpolate)
    old = run()
    assert new[0].shape == (2, 3, 64, 64)
    for a, b in zip(new, old):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('correlation', ['cross_attention', 'convolution'])
@pytest.mark.parametrize('predictor', ['linear', 'deconv'])
def test_every_gradient_has_its_parameters_strides(correlation, predictor):
    """DDP copies gradients into buckets laid out like the parameters; a
    gradient with other strides (a channels-last conv weight gradient)
    triggers its 'Grad strides do not match bucket view strides' warning."""
    torch.manual_seed(0)
    decoder = CorrelationDecoder(in_channels=32, embed_dim=32, num_heads=4,
                                 out_size=64, correlation=correlation,
                                 predictor=predictor)
    context = torch.randn(2, 1 + 16, 32)
    exemplar = torch.randn(6, 1 + 4, 32)
    decoder(context, exemplar, num_exemplars=3).square().mean().backward()
    for name, param in decoder.named_parameters():
        assert param.grad is not None, name
        assert param.grad.stride() == param.stride(), name


def test_linear_predictor_as_matmul_equals_the_1x1_conv():
    torch.manual_seed(0)
    decoder = CorrelationDecoder(in_channels=32, embed_dim=32, num_heads=4,
                                 out_size=64).double()
    tokens = torch.randn(6, 16, 32, dtype=torch.float64)
    maps = tokens.transpose(1, 2).reshape(6, 32, 4, 4)
    torch.testing.assert_close(decoder._predict(tokens, (4, 4)),
                               decoder.predictor(maps), rtol=0, atol=1e-12)


def test_float32_under_cuda_bf16_autocast():
    """As F.interpolate (autocast's fp32 list): bf16 logits upsample in
    float32, with float32 interpolation weights."""
    from cim_mm.utils.device_traffic import fake_cuda
    with fake_cuda(autocast_dtype=torch.bfloat16):
        x = torch.randn(2, 1, 10, 10, device='cuda').to(torch.bfloat16)
        out = bilinear_upsample(x, 160)
        assert out.dtype == torch.float32 and out.device.type == 'cuda'
        plain = x.float() @ torch.ones(10, 10, device='cuda')
        assert plain.dtype == torch.bfloat16  # autocast was on


def test_interpolation_rows_sum_to_one_in_float32():
    """float32 weights (bf16 ones were off by up to ~0.4%)."""
    from cim_mm.models.utils.bilinear_upsample import interpolation_matrix
    for size_in, size_out in ((10, 160), (5, 160), (1, 8), (7, 3)):
        matrix = interpolation_matrix(size_in, size_out)
        assert matrix.shape == (size_out, size_in)
        assert matrix.dtype == torch.float32
        torch.testing.assert_close(matrix.double().sum(1),
                                   torch.ones(size_out, dtype=torch.float64),
                                   rtol=0, atol=2e-7)
