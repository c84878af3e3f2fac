from . import (algorithms, backbones, data_preprocessors, heads,  # noqa
               losses, necks, utils)
