from . import algorithms, backbones, heads, losses, necks  # noqa: F401
