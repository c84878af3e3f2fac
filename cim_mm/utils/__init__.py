from .offline_photos import foolbox_imagenet_files, write_demo_images

__all__ = ["foolbox_imagenet_files", "write_demo_images"]
