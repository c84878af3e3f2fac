from .cim_vit import CIMViT

__all__ = ['CIMViT']
