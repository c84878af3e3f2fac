"""The fixed 2-D sin-cos position embedding, built on the device."""
import torch


def sincos_position_embedding(grid, dims: int, cls_token: bool = False,
                              device=None, dtype=torch.float32,
                              temperature: float = 10000.) -> torch.Tensor:
    """(1, [1 +] h*w, dims) sin-cos table of a (h, w) token grid.

    The values and layout of mmpretrain's
    ``build_2d_sincos_position_embedding`` (``[sin, cos]`` of the first
    meshgrid axis, then of the second; a zero row first for a cls token),
    computed with factory ops on ``device``: no host-to-device copy, so
    nothing to cache (a cache of device tensors is what ``torch.compile``
    ignores and rebuilds on the host every step).
    """
    height, width = grid
    if dims % 4:
        raise ValueError(f'sin-cos embedding: dims must be a multiple of 4, '
                         f'got {dims}.')
    grid_w, grid_h = torch.meshgrid(
        torch.arange(width, dtype=torch.float32, device=device),
        torch.arange(height, dtype=torch.float32, device=device),
        indexing='ij')
    quarter = dims // 4
    omega = 1. / (temperature**(
        torch.arange(quarter, dtype=torch.float32, device=device) / quarter))
    out_w = grid_w.reshape(-1, 1) * omega
    out_h = grid_h.reshape(-1, 1) * omega
    table = torch.cat(
        [out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)
    if cls_token:
        table = torch.cat([table.new_zeros(1, dims), table])
    return table[None].to(dtype)
