from . import algorithms, backbones, heads, losses, necks, utils  # noqa: F401
