"""Robustness evaluation of a fine-tuned classifier (paper Table 8).

* :mod:`.attacks` - FGSM and PGD on pixel values;
* :mod:`.pixel_space` - a classifier with its data preprocessor as a
  differentiable function of the pixels;
* :mod:`.imagenet_c` - the 15 corruptions, AlexNet's errors, mCE;
* :mod:`.wnids` - ImageNet-1K indices of WordNet ids, subset predictions;
* :mod:`.folders` - the benchmarks' folder layouts, checked;
* :mod:`.benchmarks` - :func:`evaluate_robustness` and the table.

Used by ``tools/analysis_tools/eval_robustness.py``.
"""
from .attacks import fgsm, input_gradient, pgd
from .benchmarks import (BENCHMARKS, DATASET_OF, DEFAULT_SUBFOLDERS,
                         AttackProtocol, dataset_folders, evaluate_robustness,
                         format_table, imagenet_c_pipeline, table_row)
from .folders import (IMAGE_EXTENSIONS, LabelledImages, Sample,
                      scan_annotation_file, scan_class_folders,
                      scan_imagenet_c)
from .imagenet_c import (ALEXNET_ERRORS_FILE, CORRUPTIONS, SEVERITIES,
                         alexnet_errors, alexnet_errors_source,
                         corruption_errors)
from .pixel_space import PixelSpaceClassifier
from .wnids import (class_indices, imagenet1k_wnids, predict_in_subset,
                    wnid_to_index)

__all__ = [
    'fgsm', 'pgd', 'input_gradient', 'BENCHMARKS', 'DATASET_OF',
    'DEFAULT_SUBFOLDERS', 'AttackProtocol', 'dataset_folders',
    'evaluate_robustness', 'format_table', 'imagenet_c_pipeline', 'table_row',
    'IMAGE_EXTENSIONS', 'LabelledImages', 'Sample', 'scan_annotation_file',
    'scan_class_folders', 'scan_imagenet_c', 'ALEXNET_ERRORS_FILE',
    'CORRUPTIONS', 'SEVERITIES', 'alexnet_errors', 'alexnet_errors_source',
    'corruption_errors', 'PixelSpaceClassifier', 'class_indices',
    'imagenet1k_wnids', 'predict_in_subset', 'wnid_to_index'
]
