"""Docs that run (issue 31): every ```bash / ```shell / ```python block of
README.md and docs/*.md is run here, as written, or marked in its page by
the line ``<!-- illustrative: why -->`` right before it.

The blocks run from a scratch folder laid out like a fresh clone's root:
``.venv`` (the interpreter running the tests), ``tools``, ``configs``,
``benchmarks`` and ``mmcls_geda`` of this checkout, ``data/cifar10`` with
tiny CIFAR-10-format pickles (written here) and ``my_config.py``, the
user's own config of the README (here: the digits demo config). Shrinks,
only through documented overrides, are named in each test; nothing else in
a block is changed.
"""
import glob
import os
import os.path as osp
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest

from .conftest import REPO, write_cifar10

PAGES = ['README.md'] + sorted(
    osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'docs', '*.md')))
FENCE = re.compile(r'^```(bash|sh|shell|console|python)\s*$')
MARKER = re.compile(r'^<!-- illustrative: (.+) -->$')

# Quick runs of a config: one epoch, evaluated, without loader workers (the
# overrides docs/rs2.md gives for a quick try).
QUICK = ('runner.max_epochs=1', 'evaluation.interval=1',
         'data.workers_per_gpu=0', 'data.persistent_workers=False')


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    illustrative: Optional[str]  # the marker's reason

    @property
    def key(self) -> Tuple[str, str]:
        return self.page, self.text.splitlines()[0]


def page_blocks(page: str, root: str = REPO) -> List[Block]:
    """The fenced shell and Python blocks of ``page`` (under ``root``)."""
    lines = open(osp.join(root, page), encoding='utf-8').read().splitlines()
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        end = lines.index('```', i + 1)
        marker = MARKER.match(lines[i - 1]) if i else None
        found.append(
            Block(page, i + 1, match.group(1), '\n'.join(lines[i + 1:end]),
                  marker.group(1) if marker else None))
        i = end + 1
    return found


def all_blocks() -> List[Block]:
    return [b for page in PAGES for b in page_blocks(page)]


# (page, first line of the block) -> the test below that runs it
EXECUTED: Dict[Tuple[str, str], str] = {
    ('README.md', 'from mmcv import Config'):
    'test_config_helpers',
    ('docs/benchmarks.md', 'from mmcv import Config'):
    'test_config_helpers',
    ('docs/pruning.md', 'from mmcv import Config'):
    'test_config_helpers',
    ('docs/rs2.md', 'from mmcv import Config'):
    'test_config_helpers',
    ('docs/rs2.md', 'from mmcls_geda import apply_geda'):
    'test_config_helpers',
    ('docs/methods.md', 'import numpy as np'):
    'test_config_helpers',
    ('docs/methods.md', '"""A per-epoch method in one file: every class\'s '
     'lower-loss half on odd'):
    'test_own_method',
    ('docs/methods.md', '.venv/bin/python loss_halves.py'):
    'test_own_method',
    ('docs/methods.md', "cat > loss_halves_digits.py <<'END'"):
    'test_own_method',
    ('docs/user_guide.md', 'import numpy as np'):
    'test_config_helpers',
    ('docs/experiments.md', 'PYTHONPATH=$PWD .venv/bin/python '
     'tools/run_experiments.py \\'):
    'test_first_grid',
    ('docs/experiments.md', 'import csv'):
    'test_first_grid',
    ('docs/user_guide.md', 'from mmcv import Config'):
    'test_user_guide',
    ('docs/user_guide.md', '.venv/bin/python tools/train.py digits_geda.py '
     '--work-dir work_dirs/digits_geda --device cpu'):
    'test_user_guide',
    ('docs/user_guide.md', '.venv/bin/python tools/geda_select.py '
     'digits_geda.py --work-dir work_dirs/digits_sel --device cpu'):
    'test_user_guide',
    ('docs/user_guide.md', '.venv/bin/python tools/selection_report.py '
     'work_dirs/digits_sel --out work_dirs/digits_report'):
    'test_user_guide',
    ('docs/pruning.md', '.venv/bin/python tools/train.py '
     'configs/pruning/resnet18_1xb64-infobatch-r0.5_cifar10.py --device cpu'):
    'test_cifar_commands',
    ('docs/pruning.md', '.venv/bin/python tools/train.py '
     'configs/pruning/resnet18w16_1xb64-infobatch-r0.5_cifar10-5k.py \\'):
    'test_cifar_commands',
    ('docs/rs2.md', '.venv/bin/python tools/train.py '
     'configs/rs2/resnet18_1xb64-rs2-f0.1_cifar10.py --device cpu'):
    'test_cifar_commands',
}


def unrun_blocks(blocks: List[Block]) -> List[str]:
    """The runnable blocks that no test runs, as ``page:line: 'first'``."""
    return [
        f'{b.page}:{b.line}: {b.key[1]!r}' for b in blocks
        if b.illustrative is None and b.key not in EXECUTED
    ]


def test_a_new_unmarked_block_is_found(tmp_path):
    """What the check below reads: a page that gains a block."""
    (tmp_path / 'page.md').write_text(
        '# A page\n\n<!-- illustrative: a sketch -->\n```python\nx = 1\n'
        '```\n\ntext\n\n```bash\n.venv/bin/python tools/new.py\n```\n'
        '\n```text\nnot code\n```\n')
    blocks = page_blocks('page.md', str(tmp_path))
    assert [(b.line, b.lang, b.illustrative)
            for b in blocks] == [(4, 'python', 'a sketch'), (10, 'bash', None)]
    assert unrun_blocks(blocks) == [
        "page.md:10: '.venv/bin/python tools/new.py'"
    ]


def test_every_block_is_run_here_or_marked_illustrative():
    blocks = all_blocks()
    keys = [b.key for b in blocks]
    runnable = [b.key for b in blocks if b.illustrative is None]
    assert len(set(runnable)) == len(runnable), 'two runnable blocks of a ' \
        'page share a first line: the registry cannot tell them apart'
    unrun = unrun_blocks(blocks)
    assert not unrun, (
        'runnable blocks that no test runs (run them in tests/test_docs.py '
        'or mark them <!-- illustrative: why --> on the line before):\n' +
        '\n'.join(unrun))
    marked = {b.key for b in blocks if b.illustrative is not None}
    missing = set(EXECUTED) - (set(keys) - marked)
    assert not missing, f'registered blocks not in the pages (or marked ' \
        f'illustrative): {sorted(missing)}'


def block(key: Tuple[str, str], test: str) -> Block:
    """The block ``key``, checked to be registered for ``test``."""
    assert EXECUTED.get(key) == test, (key, test)
    (found, ) = [b for b in all_blocks() if b.key == key]
    return found


@pytest.fixture
def clone(tmp_path):
    """A scratch folder laid out like a fresh clone's root."""
    root = tmp_path / 'clone'
    root.mkdir()
    os.symlink(sys.prefix, root / '.venv')
    for name in ('tools', 'configs', 'benchmarks', 'mmcls_geda'):
        os.symlink(osp.join(REPO, name), root / name)
    (root / 'my_config.py'
     ).write_text("_base_ = ['configs/demo/resnet18_1xb64-full_digits.py']\n")
    return root


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')


def with_cfg_options(text: str, options: Sequence[str]) -> str:
    """``text`` with ``options`` added to the ``--cfg-options`` of every
    command that runs a tool (continuation lines joined)."""
    lines = text.replace('\\\n', ' ').splitlines()
    out = []
    for line in lines:
        if options and re.search(r'tools/\w+\.py', line) and \
                'selection_report' not in line:
            line += (' ' if '--cfg-options' in line else
                     ' --cfg-options ') + ' '.join(options)
        out.append(line)
    return '\n'.join(out)


def run_block(b: Block, cwd, options: Sequence[str] = (), timeout=600) -> str:
    """Run ``b`` in ``cwd`` (shell blocks with ``options`` added to their
    tools' ``--cfg-options``); its output, or a failure with it."""
    if b.lang == 'python':
        cmd = [sys.executable, '-c', b.text]
    else:
        cmd = ['bash', '-e', '-c', with_cfg_options(b.text, options)]
    out = subprocess.run(
        cmd,
        cwd=str(cwd),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout)
    assert out.returncode == 0, (f'{b.page}:{b.line} failed:\n' +
                                 out.stdout[-3000:] + out.stderr[-3000:])
    return out.stdout + out.stderr


def test_config_helpers(clone):
    """The Python snippets that build configs or select (no training),
    each in a fresh namespace of one interpreter; ``my_config.py`` is the
    digits demo config."""
    snippets = [
        block(key, 'test_config_helpers') for key, test in EXECUTED.items()
        if test == 'test_config_helpers'
    ]
    script = '\n'.join(
        f'exec(compile({b.text!r}, {f"{b.page}:{b.line}"!r}, "exec"), '
        "{'__name__': '__main__'})" for b in snippets)
    run_block(Block('test_config_helpers', 0, 'python', script, None), clone)


def test_first_grid(clone):
    """docs/experiments.md's first grid, then its front_points snippet.
    Shrink: one epoch instead of the page's four, and mmcv's 2 s pause per
    epoch off (the pauseless runner, README:
    ``runner=dict(type='PauselessEpochBasedRunner', epoch_pause=0)``)."""
    grid = block(('docs/experiments.md', 'PYTHONPATH=$PWD .venv/bin/python '
                  'tools/run_experiments.py \\'), 'test_first_grid')
    out = run_block(
        grid, clone,
        ('runner.max_epochs=1', 'evaluation.interval=1',
         'runner.type=PauselessEpochBasedRunner', 'runner.epoch_pause=0'))
    assert 'wrote work_dirs/first_grid/results.csv' in out
    rows = open(clone / 'work_dirs/first_grid/results.csv').read()
    assert rows.count('\n') == 1 + 8  # 3 methods x 2 seeds + full x 2
    front = run_block(
        block(('docs/experiments.md', 'import csv'), 'test_first_grid'), clone)
    assert any(
        line.startswith(('geda 0.4', 'rs2 0.4', 'full 1.0'))
        for line in front.splitlines())


def test_user_guide(clone):
    """docs/user_guide.md: dump a config, train it, select with the tool,
    train on the selection, report it, in the page's order (its config
    already trains one epoch). Shrink: no loader workers (docs/rs2.md)."""
    page = 'docs/user_guide.md'
    keys = [k for k, t in EXECUTED.items() if t == 'test_user_guide']
    for key in sorted(keys, key=lambda k: block(k, 'test_user_guide').line):
        run_block(
            block(key, 'test_user_guide'), clone,
            ('data.workers_per_gpu=0', 'data.persistent_workers=False'))
    assert osp.isfile(clone / 'work_dirs/digits_sel/geda_selection.json')
    assert glob.glob(str(clone / 'work_dirs/digits_reuse/*.log.json'))
    assert os.listdir(clone / 'work_dirs/digits_report'), page


def test_own_method(clone):
    """docs/methods.md, "Add your own method": the page's file, saved as
    ``loss_halves.py``, trains itself for 2 epochs, then serves as a grid
    spec beside ``rs2``. Shrink: no loader workers."""
    key = ('docs/methods.md', '"""A per-epoch method in one file: every '
           "class's lower-loss half on odd")
    (clone / 'loss_halves.py').write_text(block(key, 'test_own_method').text)
    out = run_block(
        block(('docs/methods.md', '.venv/bin/python loss_halves.py'),
              'test_own_method'), clone)
    for epoch in (0, 1):
        assert (f'epoch {epoch}: loss_halves serves 674 of 1347 samples'
                in out), out[-2000:]
    assert 'accuracy_top-1' in out
    assert osp.isfile(clone / 'work_dirs/loss_halves/epoch_2.pth')
    state = np.load(clone / 'work_dirs/loss_halves/rotation_state_epoch2.npz')
    assert (~np.isnan(state['losses'])).sum() > 674  # two halves' losses
    grid = block(('docs/methods.md', "cat > loss_halves_digits.py <<'END'"),
                 'test_own_method')
    out = run_block(
        grid, clone,
        ('data.workers_per_gpu=0', 'data.persistent_workers=False'))
    rows = open(clone / 'work_dirs/loss_halves_grid/results.csv').read()
    assert 'loss_halves,0.5' in rows and 'rs2,0.5' in rows, rows


def test_cifar_commands(clone):
    """The training commands on CIFAR-10 (docs/pruning.md, docs/rs2.md),
    with tiny CIFAR-10-format pickles as ``data/cifar10`` (50 training and
    100 test images a class: the 5k configs' ``per_class`` overrides fit).
    Shrink: ``QUICK`` (docs/rs2.md's quick try) where a command has no
    overrides of its own, and a ResNet-18 of width 8."""
    write_cifar10(
        str(clone / 'data' / 'cifar10'),
        per_class_train=50,
        per_class_test=100)
    for key in [k for k, t in EXECUTED.items() if t == 'test_cifar_commands']:
        b = block(key, 'test_cifar_commands')
        own = '--cfg-options' in b.text
        options = () if own else QUICK + ('model.backbone.base_channels=8',
                                          'model.head.in_channels=64')
        out = run_block(b, clone, options)
        assert 'Epoch(val)' in out or 'accuracy_top-1' in out, out[-2000:]
