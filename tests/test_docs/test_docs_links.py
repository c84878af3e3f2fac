"""README.md and docs/*.md name only what exists.

Checked on every page:

* every relative link (``[text](path#anchor)``) points at a file or folder of
  the repository, and an anchor at a heading of the target page (GitHub's
  heading ids);
* every repository path a page names, in inline code or a code block
  (``configs/...``, ``tools/...``, ``cim_mm/...``, ``tests/...``, ``docs/...``,
  ``requirements/...``, ``.ci/...``; ``test_x/...`` in the description of the
  tests, relative to ``tests/``; the ``cim_mm/`` tree of the layout block),
  exists;
* every bare file name in inline code that ends in ``.py`` (``knn_eval.py``,
  a config's file name in a table) is the name of a file of the repository;
* every dotted ``cim_mm.`` name (``cim_mm.compat.load_config``) imports;
* every config named (by path, by bare file name under ``configs/``, or as
  ``mmpretrain::``/``cim_mm::`` name) builds with ``Config.fromfile``;
* no internal issue number or commit id in user-facing text.

What is not checked, and why (explicit rules, nothing else is skipped):

* paths outside the repository's own folders: the user's data and outputs
  (``data/...``, ``work_dirs/...``, ``checkpoints/...``, ``/path/to/images``,
  ``out/``), which exist only on a user's machine, are never matched because
  only the repository folders above are looked for;
* ``NOT_IN_REPO`` below: placeholders that a page uses as an example of a
  naming rule.
"""
import glob
import importlib
import os.path as osp
import re

import pytest
from mmengine.config import Config

import cim_mm  # noqa: F401  (config scopes, mmpretrain:: lookup)
from cim_mm.compat import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAGES = ['README.md'] + sorted(
    osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'docs', '*.md')))

# Named on purpose although they are not in the repository.
NOT_IN_REPO = {
    # docs/development.md: "the tests of `cim_mm/a/b.py` are in
    # `tests/test_a/test_b.py`", an example of the mirroring rule.
    'cim_mm/a/b.py', 'tests/test_a/test_b.py',
}

REPO_DIRS = ('configs', 'tools', 'cim_mm', 'tests', 'docs', 'requirements',
             '.ci')
_PATH_CHARS = r'[\w.\-/]'
# A repository path: one of REPO_DIRS at the start of a token (not after a
# word character, '/', ':' or '.', so `cim_mm::x`, `work_dirs/tools/` and
# `mmpretrain::mae/...` are not taken for one).
PATH_RE = re.compile(r'(?<![\w/:.\-])((?:%s)/%s*)' % (
    '|'.join(re.escape(d) for d in REPO_DIRS), _PATH_CHARS))
TESTS_REL_RE = re.compile(r'(?<![\w/:.\-])(test_\w+/%s*)' % _PATH_CHARS)
BARE_PY_RE = re.compile(r'^[\w.\-]+\.py$')
DOTTED_RE = re.compile(r'(?<![\w.])(cim_mm(?:\.\w+)+)')
SCOPED_CONFIG_RE = re.compile(r'((?:mmpretrain|cim_mm)::[\w.\-/]+\.py)')
LINK_RE = re.compile(r'(?<!!)\[[^\]]*\]\(([^)\s]+)\)')
FENCE_RE = re.compile(r'^```[^\n]*\n(.*?)^```', re.M | re.S)
# inline code may wrap onto the next line, not across a paragraph
INLINE_RE = re.compile(r'`((?:[^`\n]|\n(?!\s*\n))+)`')


def read(page):
    with open(osp.join(REPO, page), encoding='utf-8') as f:
        return f.read()


def code_spans(text):
    """The inline code spans and code blocks of a page."""
    blocks = FENCE_RE.findall(text)
    prose = FENCE_RE.sub('', text)
    return INLINE_RE.findall(prose), blocks


def github_anchor(heading):
    """The id GitHub gives a heading."""
    text = heading.strip().lower().replace('`', '')
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(page):
    text = FENCE_RE.sub('', read(page))
    return {github_anchor(h) for h in re.findall(r'^#+ (.+)$', text, re.M)}


def _clean(path):
    # a sentence may end right after a path
    return path.rstrip('.,;:')


def repo_paths(page):
    inline, blocks = code_spans(read(page))
    found = set()
    for span in inline + blocks:
        found.update(_clean(p) for p in PATH_RE.findall(span))
        found.update('tests/' + _clean(p) for p in TESTS_REL_RE.findall(span))
    return found


def layout_paths(page):
    """``cim_mm/``'s tree in a layout block: `  sub/path   # comment`."""
    paths = set()
    for block in FENCE_RE.findall(read(page)):
        lines = block.splitlines()
        if not lines or lines[0].strip() != 'cim_mm/':
            continue
        for line in lines[1:]:
            if not line.startswith('  ') or not line.strip() or \
                    line.strip().startswith('#'):
                if not line.startswith(' '):
                    break  # the tree of cim_mm/ ends
                continue
            entries = line.split('#')[0]
            for entry in entries.split(','):
                entry = entry.strip()
                if entry:
                    paths.add('cim_mm/' + entry)
    return paths


def all_repo_files():
    names = {}
    for d in REPO_DIRS:
        for p in glob.glob(osp.join(REPO, d, '**', '*'), recursive=True):
            names.setdefault(osp.basename(p), []).append(
                osp.relpath(p, REPO))
    return names


FILES_BY_NAME = all_repo_files()


def bare_py_names(page):
    inline, _ = code_spans(read(page))
    return {s for s in inline if BARE_PY_RE.match(s)}


def named_configs():
    configs = set()
    for page in PAGES:
        for path in repo_paths(page):
            if path.startswith('configs/') and path.endswith('.py'):
                configs.add(path)
        for name in bare_py_names(page):
            configs.update(p for p in FILES_BY_NAME.get(name, [])
                           if p.startswith('configs/'))
    return sorted(configs)


def scoped_configs():
    names = set()
    for page in PAGES:
        inline, blocks = code_spans(read(page))
        for span in inline + blocks:
            names.update(SCOPED_CONFIG_RE.findall(span))
    return sorted(names)


@pytest.mark.parametrize('page', PAGES)
def test_relative_links_resolve(page):
    broken = []
    prose = INLINE_RE.sub('', FENCE_RE.sub('', read(page)))
    for target in LINK_RE.findall(prose):
        if re.match(r'^[a-z]+:', target):
            continue  # https:, mailto:: not this repository
        path, _, anchor = target.partition('#')
        dest = osp.normpath(osp.join(osp.dirname(page), path)) if path \
            else page
        if not osp.exists(osp.join(REPO, dest)):
            broken.append(f'{target} (no {dest})')
        elif anchor and dest.endswith('.md') and anchor not in anchors(dest):
            broken.append(f'{target} (no heading #{anchor} in {dest})')
    assert not broken, f'{page}: {broken}'


@pytest.mark.parametrize('page', PAGES)
def test_named_repository_paths_exist(page):
    paths = repo_paths(page) | layout_paths(page)
    missing = sorted(p for p in paths - NOT_IN_REPO
                     if not osp.exists(osp.join(REPO, p)))
    assert not missing, f'{page} names paths that do not exist: {missing}'


@pytest.mark.parametrize('page', PAGES)
def test_named_python_files_exist(page):
    missing = sorted(n for n in bare_py_names(page) if n not in FILES_BY_NAME)
    assert not missing, f'{page} names files that do not exist: {missing}'


@pytest.mark.parametrize('page', PAGES)
def test_named_cim_mm_objects_import(page):
    text = read(page)
    broken = []
    for name in sorted(set(DOTTED_RE.findall(text))):
        parts = name.split('.')
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module('.'.join(parts[:i]))
            except ImportError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                broken.append(name)
            break
        else:
            broken.append(name)
    assert not broken, f'{page} names what cim_mm does not have: {broken}'


def test_pages_name_configs():
    # the collection below is not empty by accident
    assert len(named_configs()) >= 15
    assert 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py' \
        in scoped_configs()


@pytest.mark.parametrize('config', named_configs())
def test_named_config_builds(config):
    cfg = Config.fromfile(osp.join(REPO, config))
    assert cfg.filename


@pytest.mark.parametrize('name', scoped_configs())
def test_named_scoped_config_builds(name):
    assert load_config(name).filename


@pytest.mark.parametrize('page', PAGES)
def test_no_internal_history(page):
    text = read(page)
    assert not re.findall(r'\bissues? ?#?\d+', text, re.I), page
    commit_ids = [w for w in re.findall(r'\b[0-9a-f]{7,40}\b', text)
                  if re.search(r'[a-f]', w) and re.search(r'\d', w)]
    assert not commit_ids, f'{page}: {commit_ids}'
