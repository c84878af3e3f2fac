"""Write Debian's Fashion-MNIST (``apt-get install dataset-fashion-mnist``)
as class folders of upscaled PNGs, for the k-NN comparison of docs/knn.md.

    python tools/analysis_tools/fashion_mnist_folders.py data/fashion_mnist \
        [--size 96] [--train-per-class 1000] [--test-per-class 1000]

writes ``OUT/train/<class>/<index>.png`` (the first N training images of
each class) and ``OUT/test/<class>/<index>.png`` (the test set: 1000 per
class), 28 x 28 grayscale upscaled to ``--size`` (bicubic). Nothing is
downloaded: the files come from the Debian package.
"""
import argparse
import gzip
import os
import os.path as osp
import sys

import cv2
import numpy as np

SOURCE = '/usr/share/datasets/fashion-mnist'
CLASSES = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal',
           'shirt', 'sneaker', 'bag', 'ankle-boot')


def read_idx(path: str) -> np.ndarray:
    """An IDX file (gzip) as an array: images (N, 28, 28) or labels (N,)."""
    with gzip.open(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big')
             for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_split(images, labels, root, per_class, size):
    counts = [0] * len(CLASSES)
    for index, (img, label) in enumerate(zip(images, labels)):
        if counts[label] >= per_class:
            continue
        counts[label] += 1
        folder = osp.join(root, CLASSES[label])
        os.makedirs(folder, exist_ok=True)
        big = cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(osp.join(folder, f'{index:05d}.png'), big)
    return sum(counts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out')
    parser.add_argument('--source', default=SOURCE)
    parser.add_argument('--size', type=int, default=96)
    parser.add_argument('--train-per-class', type=int, default=1000)
    parser.add_argument('--test-per-class', type=int, default=1000)
    args = parser.parse_args(argv)
    files = {
        split: [osp.join(args.source, f'{prefix}-{kind}-idx{n}-ubyte.gz')
                for kind, n in (('images', 3), ('labels', 1))]
        for split, prefix in (('train', 'train'), ('test', 't10k'))
    }
    missing = [p for pair in files.values() for p in pair if not osp.isfile(p)]
    if missing:
        print(f'error: {missing[0]} not found: install Debian\'s '
              'dataset-fashion-mnist (apt-get install dataset-fashion-mnist)'
              ' or pass --source.', file=sys.stderr)
        return 2
    for split, per_class in (('train', args.train_per_class),
                             ('test', args.test_per_class)):
        images, labels = (read_idx(p) for p in files[split])
        n = write_split(images, labels, osp.join(args.out, split), per_class,
                        args.size)
        print(f'{split}: {n} images in {osp.join(args.out, split)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
