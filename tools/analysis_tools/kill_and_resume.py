"""Stop a tiny CPU pre-training N times at random iterations, resume it each
time, and compare its final checkpoint with an uninterrupted run's: the
figure behind exact resume. Not part of the test suite.

The run: ``configs/cim_demo.py``'s model with 2 layers, epoch-based
(``ResumableEpochBasedTrainLoop``, ``ResumableSampler``), on the demo photos,
launched with ``tools/dist_train.sh`` (``--nproc`` processes, gloo on CPU,
``--workers`` persistent DataLoader workers each), a checkpoint every
``--interval`` iterations. Each stop sends ``--signal`` to the whole launch
(torchrun, its ranks and their workers) once the log shows the drawn
iteration; the next launch resumes with ``--resume`` (the latest checkpoint
of the work directory). With SIGKILL the work since the last checkpoint is
lost and redone; the outcome must not change. At the end every tensor of the
final checkpoint (``state_dict``, optimizer state, parameter schedulers) is
compared with the uninterrupted run of the same config and seed.

With ``--knn-monitor`` both runs also evaluate ``KNNMonitorHook`` every 2
iterations (the demo photos sorted into 3 arbitrary classes, memory and
queries), and the k-NN curves saved in the final checkpoints are compared
too.

Example::

    python tools/analysis_tools/kill_and_resume.py --stops 5 --signal KILL
"""
import argparse
import os
import os.path as osp
import random
import shutil
import signal
import subprocess
import sys
import tempfile

from cim_mm.checkpoint import read_checkpoint
from cim_mm.checkpoint.comparison import differing_leaves

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'cim_demo.py')

CONFIG = '''
_base_ = [{demo!r}]
model = dict(backbone=dict(arch=dict(num_layers=2)))
train_dataloader = dict(
    batch_size=2, num_workers={workers}, persistent_workers={persistent},
    sampler=dict(_delete_=True, type='ResumableSampler', shuffle=True),
    dataset=dict(data_root={root!r}, indices={images}))
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop',
                 max_epochs={epochs})
val_cfg = val_dataloader = val_evaluator = None
test_cfg = test_dataloader = test_evaluator = None
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=2),
    dict(type='CosineAnnealingLR', T_max={iters} - 2, eta_min=1e-5,
         by_epoch=False, begin=2, end={iters}),
]
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval={interval}, max_keep_ckpts=2))
randomness = dict(seed={seed})
'''

KNN_MONITOR = '''
custom_hooks = [*_base_.custom_hooks, dict(
    type='KNNMonitorHook', interval=2,
    memory=dict(batch_size=4, num_workers=1, dataset=dict(
        type='CustomDataset', data_root={train!r}, pipeline={pipeline!r})),
    query=dict(batch_size=4, num_workers=1, dataset=dict(
        type='CustomDataset', data_root={val!r}, pipeline={pipeline!r})))]
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--stops', type=int, default=5,
                        help='times the run is stopped')
    parser.add_argument('--signal', default='TERM',
                        help='TERM (the graceful stop, if the run handles '
                        'it), KILL, INT, USR1, ... (name without SIG)')
    parser.add_argument('--nproc', type=int, default=2,
                        help='processes per launch')
    parser.add_argument('--workers', type=int, default=2,
                        help='DataLoader workers per process (persistent)')
    parser.add_argument('--images', type=int, default=24,
                        help='training images, at most the 24 demo photos '
                        '(batch 2 per process)')
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--interval', type=int, default=2,
                        help='iterations between periodic checkpoints')
    parser.add_argument('--seed', type=int, default=0,
                        help='the run\'s seed and the draw of the stops')
    parser.add_argument('--keep', help='keep logs and work dirs here')
    parser.add_argument('--knn-monitor', action='store_true',
                        help='with KNNMonitorHook (its curves compared)')
    return parser.parse_args(argv)


def iterations(images, args):
    per_rank = -(-images // args.nproc)  # samples per rank, rounded up
    return args.epochs * -(-per_rank // 2)


def process_tree(root):
    """``root`` and all its descendants (from /proc): torchrun starts its
    ranks in sessions of their own, out of the launcher's process group."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                # pid (comm) state ppid ...: comm may hold spaces
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def send(root, sig):
    """Send ``sig`` to every process of the launch at once, as a batch
    scheduler stopping a job does."""
    for pid in process_tree(root):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def launch(config, work_dir, nproc, log_path, resume=False, stop_at=None,
           sig=signal.SIGTERM):
    """Run ``dist_train.sh``; with ``stop_at``, send ``sig`` to the launch
    once its log reports iteration ``stop_at``. Returns (exit code, whether
    it was stopped)."""
    env = dict(os.environ, PYTHON=sys.executable, CUDA_VISIBLE_DEVICES='',
               PYTHONUNBUFFERED='1',  # the log lines as they happen
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env.pop('PORT', None)  # torchrun --standalone picks a free port
    command = ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), config,
               str(nproc), '--work-dir', work_dir]
    if resume:
        command.append('--resume')
    stopped = False
    with open(log_path, 'a') as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        for line in proc.stdout:
            log.write(line)
            if stop_at is None or stopped or 'Iter(train) [' not in line:
                continue
            done = int(line.split('Iter(train) [')[1].split('/')[0])
            if done >= stop_at:
                send(proc.pid, sig)
                stopped = True
                log.write(f'>>> sent SIG{sig.name[3:]} after iteration '
                          f'{done}\n')
        code = proc.wait()
    return code, stopped


def resumes_at(work_dir):
    """The iteration of the work dir's latest checkpoint (0 if none)."""
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            name = osp.basename(f.read().strip())
    except FileNotFoundError:
        return 0
    return int(name[len('iter_'):-len('.pth')])


def differing(a_path, b_path):
    """(differing leaves, tensors compared, whether the k-NN curves saved
    by KNNMonitorHook are the same) of two checkpoints."""
    a, b = (read_checkpoint(p, map_location='cpu') for p in (a_path, b_path))
    curves = [[(h['step'], h['top1'], h['top5'])
               for h in c.get('knn_monitor', {}).get('history', [])]
              for c in (a, b)]
    return (*differing_leaves(a, b), curves[0] == curves[1], len(curves[0]))


def write_knn_folders(photos, root):
    """The photos of ``photos`` (a folder) copied into ``root/train`` and
    ``root/val`` as ``<class>/<image>``, 3 classes in turn, every 4th photo a
    query. Returns (train, val)."""
    names = sorted(os.listdir(photos))
    for i, name in enumerate(names):
        split = 'val' if i % 4 == 3 else 'train'
        folder = osp.join(root, split, f'class{i % 3}')
        os.makedirs(folder, exist_ok=True)
        shutil.copy(osp.join(photos, name), folder)
    return osp.join(root, 'train'), osp.join(root, 'val')


def main(argv=None):
    args = parse_args(argv)
    sig = getattr(signal, f'SIG{args.signal.upper().removeprefix("SIG")}')
    keep = args.keep or tempfile.mkdtemp(prefix='kill_and_resume_')
    os.makedirs(keep, exist_ok=True)
    sys.path.insert(0, ROOT)
    from cim_mm.utils import write_demo_images
    root = osp.join(keep, 'photos')
    images = min(args.images, write_demo_images(root)[0])
    total = iterations(images, args)
    config = osp.join(keep, 'kill_and_resume.py')
    with open(config, 'w') as f:
        f.write(CONFIG.format(
            demo=DEMO_CONFIG, root=root, workers=args.workers,
            persistent=args.workers > 0, images=images,
            epochs=args.epochs, iters=total, interval=args.interval,
            seed=args.seed))
        if args.knn_monitor:
            from cim_mm.evaluation.knn import knn_pipeline
            train, val = write_knn_folders(osp.join(root, 'train'),
                                           osp.join(keep, 'knn'))
            f.write(KNN_MONITOR.format(train=train, val=val,
                                       pipeline=knn_pipeline(32)))
    final = f'iter_{total}.pth'

    print(f'{total} iterations, {args.nproc} processes x {args.workers} '
          f'workers; uninterrupted run ...', flush=True)
    code, _ = launch(config, osp.join(keep, 'straight'), args.nproc,
                     osp.join(keep, 'straight.log'))
    if code != 0:
        sys.exit(f'the uninterrupted run failed ({code}): see {keep}')

    draw = random.Random(args.seed)
    run, log = osp.join(keep, 'stopped'), osp.join(keep, 'stopped.log')
    survived = failed = 0
    resume = False
    for stop in range(args.stops + 1):
        # A stop at an iteration after the one the launch resumes at.
        start = resumes_at(run)
        stop_at = (draw.randint(start + 1, total - 1)
                   if stop < args.stops and start + 1 < total else None)
        code, stopped = launch(config, run, args.nproc, log, resume=resume,
                               stop_at=stop_at, sig=sig)
        resume = True
        if osp.isfile(osp.join(run, final)):
            break  # finished (before the drawn iteration or the signal)
        if stopped:
            survived += 1
            print(f'stop {stop + 1}: resumed at iteration {start}, '
                  f'SIG{sig.name[3:]} after iteration {stop_at} (exit '
                  f'{code})', flush=True)
        elif code != 0:
            failed += 1
            print(f'launch {stop + 1} failed with exit {code}', flush=True)

    if not osp.isfile(osp.join(run, final)):
        code, _ = launch(config, run, args.nproc, log, resume=True)
        failed += code != 0
    if not osp.isfile(osp.join(run, final)):
        sys.exit(f'the stopped run never finished: see {log}')
    bad, tensors, same_curve, evaluations = differing(
        osp.join(keep, 'straight', final), osp.join(run, final))
    print(f'stops survived: {survived}; restarts that failed: {failed}; '
          f'tensors that differ: {len(bad)} of {tensors} (state_dict, '
          f'optimizer, schedulers){": " + ", ".join(bad[:5]) if bad else ""}')
    if args.knn_monitor:
        print(f'k-NN curves ({evaluations} evaluations): '
              f'{"the same" if same_curve else "DIFFERENT"}')
    print(f'logs and work dirs: {keep}')


if __name__ == '__main__':
    main()
