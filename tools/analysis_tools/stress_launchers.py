"""Run ``tools/dist_train.sh`` (and ``tools/dist_test.sh``) N times and count
the runs that exit non-zero: the figure behind the launcher teardown fix
(``cim_mm.compat.shutdown_distributed``). Not part of the test suite.

Each run trains the tests' toy classifier (``tests/data/toy_config.py``) for
4 iterations on 2 CPU processes (gloo), on a folder of real photos written
once, then evaluates the last checkpoint with 2 processes. ``--load K`` keeps
K busy-looping processes running meanwhile: the exit race this guards
against shows most under CPU load.

Example::

    python tools/analysis_tools/stress_launchers.py --runs 20 --load 2
"""
import argparse
import multiprocessing
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from collections import Counter

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CONFIG = osp.join(ROOT, 'tests', 'data', 'toy_config.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=20,
                        help='number of train (+ test) launches')
    parser.add_argument('--nproc', type=int, default=2,
                        help='processes per launch')
    parser.add_argument('--load', type=int, default=0,
                        help='busy-looping processes to run meanwhile')
    parser.add_argument('--no-test', action='store_true',
                        help='launch dist_train.sh only')
    parser.add_argument('--keep', help='keep logs and work dirs here')
    return parser.parse_args(argv)


def write_toy_images(root):
    """Three class folders of two real photos each (scikit-image's)."""
    import skimage.data
    from PIL import Image
    for name in ('astronaut', 'chelsea', 'coffee'):
        image = getattr(skimage.data, name)()
        os.makedirs(osp.join(root, name), exist_ok=True)
        half = image.shape[1] // 2
        Image.fromarray(image[:, :half]).save(
            osp.join(root, name, 'left.png'))
        Image.fromarray(image[:, half:]).save(
            osp.join(root, name, 'right.png'))


def busy_loop():
    while True:
        pass


def launch(command, log_path, python=sys.executable):
    """Run ``command`` with ``$PYTHON`` set to ``python`` (the interpreter
    the launch scripts start; this one by default), its output in
    ``log_path``; return its exit code and the signals of the ranks that
    torchrun reports killed (``exitcode  : -15 (pid: N) (SIGTERM)``), sorted
    and comma-separated ('' if none)."""
    env = dict(os.environ, PYTHON=python)
    env.pop('PORT', None)  # torchrun --standalone picks a free port
    with open(log_path, 'w') as log:
        code = subprocess.call(command, cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    with open(log_path) as log:
        text = log.read()
    signals = sorted({
        line.split('(')[-1].rstrip(')').strip()
        for line in text.splitlines()
        if 'exitcode' in line and '(SIG' in line
    })
    return code, ','.join(signals)


def main(argv=None):
    args = parse_args(argv)
    out_dir = args.keep or tempfile.mkdtemp(prefix='stress_launchers_')
    os.makedirs(out_dir, exist_ok=True)
    images = osp.join(out_dir, 'images')
    write_toy_images(images)
    data = ['--cfg-options'] + [
        f'{split}_dataloader.dataset.data_root={images}'
        for split in ('train', 'val', 'test')
    ]
    burners = [multiprocessing.Process(target=busy_loop, daemon=True)
               for _ in range(args.load)]
    for burner in burners:
        burner.start()
    failures, launches = Counter(), Counter()
    start = time.time()
    try:
        for run in range(args.runs):
            work_dir = osp.join(out_dir, f'run{run}')
            code, sig = launch(
                ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'),
                 TOY_CONFIG, str(args.nproc), '--work-dir', work_dir, *data],
                osp.join(out_dir, f'train{run}.log'))
            results = [('train', code, sig)]
            if not args.no_test and code == 0:
                code, sig = launch(
                    ['bash', osp.join(ROOT, 'tools', 'dist_test.sh'),
                     TOY_CONFIG, osp.join(work_dir, 'iter_4.pth'),
                     str(args.nproc), '--work-dir', work_dir, *data],
                    osp.join(out_dir, f'test{run}.log'))
                results.append(('test', code, sig))
            for name, code, sig in results:
                launches[name] += 1
                if code != 0:
                    failures[name] += 1
                    print(f'run {run}: dist_{name}.sh exited {code}'
                          f'{" (" + sig + ")" if sig else ""}; log: '
                          f'{osp.join(out_dir, f"{name}{run}.log")}',
                          flush=True)
    finally:
        for burner in burners:
            burner.terminate()
    counts = '; '.join(
        f'dist_{name}.sh: {failures[name]} of {launches[name]} launches '
        'failed' for name in ('train', 'test') if launches[name])
    print(f'{counts} ({args.nproc} processes each, {args.load} busy '
          f'processes alongside, {time.time() - start:.0f} s). '
          f'Logs in {out_dir}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
