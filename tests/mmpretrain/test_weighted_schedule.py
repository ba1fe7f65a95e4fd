"""Per-sample weights of a selection on mmpretrain 1.x: ``GradNormHook``
serves CRAIG's / GRAD-MATCH's weights (a weighted method, ``weights=`` on
re-selections, a weighted second phase) through ``GEDASubsetDataset`` to
``WeightedImageClassifier``'s loss, through the stock CIFAR-10 config and
mmengine's ``Runner``; a model that would drop them is refused before
training."""
import os.path as osp

import numpy as np
import pytest
from mmpretrain.registry import MODELS

from mmcls_geda.engines.mmpretrain.config import apply_geda
from mmcls_geda.engines.mmpretrain.model import WeightedImageClassifier
from mmcls_geda.selection import record
from .test_hook import stock_cfg, train


@MODELS.register_module(force=True)
class WeightReceivingClassifier(WeightedImageClassifier):
    """``WeightedImageClassifier`` that keeps, for every training batch,
    the ``(sample_idx, sample_weight)`` of each data sample its loss
    receives (None: the sample carries no weight)."""

    received = []

    def loss(self, inputs, data_samples):
        type(self).received.append([(int(s.metainfo['sample_idx']),
                                     s.metainfo.get('sample_weight'))
                                    for s in data_samples])
        return super().loss(inputs, data_samples)


def weighted_cfg(root, work, tmp_path, max_epochs, **hook):
    cfg = stock_cfg(
        root,
        work,
        tmp_path,
        hook=dict(
            type='GradNormHook',
            priority='HIGHEST',
            scoring_workers=0,
            report=False,
            **hook),
        max_epochs=max_epochs)
    cfg.model.type = 'WeightReceivingClassifier'
    return cfg


def received_epochs(size=30):
    """What the loss received, cut into epochs: per epoch a dict
    ``sample_idx -> weight`` (None: unweighted)."""
    flat = [
        pair for batch in WeightReceivingClassifier.received for pair in batch
    ]
    assert len(flat) % size == 0
    return [dict(flat[i:i + size]) for i in range(0, len(flat), size)]


def record_weights(work, epoch, per_epoch=True):
    saved = record.load_record(
        osp.join(
            work,
            record.epoch_selection_file(epoch)
            if per_epoch else record.SELECTION_FILE))
    assert saved['weighted'] is True
    selection = saved['selection']
    return dict(zip(selection['indices'], selection['weights']))


def assert_weights(got, expected):
    assert sorted(got) == sorted(expected)  # the same samples, once each
    np.testing.assert_allclose([got[i] for i in sorted(expected)],
                               [expected[i] for i in sorted(expected)],
                               rtol=1e-6)


@pytest.fixture(autouse=True)
def fresh_record():
    WeightReceivingClassifier.received = []


def test_craig_weights_reach_the_loss(cifar10_root, tmp_path):
    work = tmp_path / 'work'
    train(weighted_cfg(cifar10_root, work, tmp_path, 2, method='craig'))
    expected = record_weights(work, 0, per_epoch=False)
    assert len(set(expected.values())) > 1  # CRAIG's cluster sizes
    for epoch in received_epochs():
        assert_weights(epoch, expected)


def test_reselected_matching_weights_reach_the_loss_and_resume(
        cifar10_root, tmp_path, monkeypatch):
    """GEDA with ``weights='gradmatch'`` re-selected every 2 epochs: each
    epoch's loss gets the weights of the selection it trains on; resumed
    at epoch 1, the saved weighted record is served again (no scoring)."""
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    work = tmp_path / 'work'
    hook = dict(method='geda', weights='gradmatch', interval=2)
    train(weighted_cfg(cifar10_root, work, tmp_path, 3, **hook))
    epochs = received_epochs()
    first, second = record_weights(work, 0), record_weights(work, 2)
    for epoch, expected in zip(epochs, (first, first, second)):
        assert_weights(epoch, expected)
    WeightReceivingClassifier.received = []
    _, _, log = train(
        weighted_cfg(cifar10_root, work, tmp_path, 3, **hook),
        load_from=str(work / 'epoch_1.pth'),
        resume=True)
    resumed = received_epochs()
    assert_weights(resumed[0], first)
    assert_weights(resumed[1], record_weights(work, 2))
    assert 'resumed the selection from' in log


def test_a_weighted_second_phase_after_a_warmup(cifar10_root, tmp_path):
    """Warm-up (epoch 0) and GEDA (epoch 1) unweighted, then GRAD-MATCH
    (epoch 2) with its weights."""
    work = tmp_path / 'work'
    train(
        weighted_cfg(
            cifar10_root,
            work,
            tmp_path,
            3,
            method='geda',
            warmup_epochs=0.5,
            then=dict(method='gradmatch', start_epoch=2, interval=1)))
    warmup, subset, then = received_epochs()
    assert set(warmup.values()) == set(subset.values()) == {None}
    saved = record.load_record(osp.join(work, record.epoch_selection_file(1)))
    assert saved['weighted'] is False and saved['method'] == 'geda'
    assert sorted(subset) == sorted(saved['selection']['indices'])
    assert_weights(then, record_weights(work, 2))


def test_a_model_that_drops_the_weights_is_refused(cifar10_root, tmp_path):
    work = tmp_path / 'work'
    cfg = weighted_cfg(cifar10_root, work, tmp_path, 1, method='gradmatch')
    cfg.model.type = 'ImageClassifier'
    with pytest.raises(
            TypeError,
            match="method 'gradmatch' trains with per-sample weights.*set "
            "model.type = 'WeightedImageClassifier'.*or set weighted=False.*"
            'got ImageClassifier'):
        train(cfg)
    assert not osp.exists(work / record.SELECTION_FILE)  # nothing scored
    cfg.model.type = 'WeightReceivingClassifier'
    cfg.model.train_cfg = dict(augments=dict(type='Mixup', alpha=0.2))
    with pytest.raises(TypeError, match='batch augments'):
        train(cfg)


def test_apply_geda_makes_the_model_weighted(cifar10_root, tmp_path):
    cfg = stock_cfg(cifar10_root, tmp_path / 'work', tmp_path, hook=False)
    assert cfg.model.type == 'ImageClassifier'
    assert apply_geda(cfg, 0.5, 'craig').model.type == \
        'WeightedImageClassifier'
    assert apply_geda(
        cfg, 0.5, 'craig',
        hook=dict(weighted=False)).model.type == 'ImageClassifier'
    assert apply_geda(cfg, 0.5, 'geda').model.type == 'ImageClassifier'
    mixup = cfg.copy()
    mixup.model.train_cfg = dict(augments=dict(type='Mixup', alpha=0.2))
    with pytest.raises(ValueError, match='augments.*Mixup'):
        apply_geda(mixup, 0.5, 'geda', hook=dict(weights='gradmatch'))
    vit = cfg.copy()
    vit.model.type = 'MAE'
    with pytest.raises(
            ValueError, match="model.type is 'MAE': set weighted=False"):
        apply_geda(vit, 0.5, 'gradmatch')


def test_the_documented_weighted_config_trains(cifar10_root, tmp_path):
    """The weighted config block of docs/mmpretrain.md on mmpretrain's
    stock config (with the plugin and the local data, as the configs in
    configs/mmpretrain/ add them), shrunk through overrides: the model is
    a WeightedImageClassifier and the record carries the matching
    weights."""
    from mmengine.config import Config

    from .test_config import doc_block, shrink
    block = doc_block(
        "model = dict(type='WeightedImageClassifier')  # merged into the "
        "base's model")
    path = tmp_path / 'weighted_cfg.py'
    path.write_text(
        "_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']\n"
        "custom_imports = dict(imports=['mmcls_geda'], "
        'allow_failed_imports=False)\n'
        'train_dataloader = dict(dataset=dict(_delete_=True, '
        "type='GEDASubsetDataset', fraction=0.5, dataset=dict("
        "type='LocalCIFAR10', data_root='data/cifar10', split='train', "
        "pipeline={{_base_.train_pipeline}})))\n"
        "val_dataloader = dict(dataset=dict(type='LocalCIFAR10'))\n"
        "test_dataloader = dict(dataset=dict(type='LocalCIFAR10'))\n" + block +
        '\n')
    cfg = Config.fromfile(str(path))
    work = tmp_path / 'work'
    cfg.custom_hooks.append(dict(type='ServedIndices'))
    runner, served, _ = train(cfg, **shrink(cifar10_root, work))
    assert type(runner.model).__name__ == 'WeightedImageClassifier'
    saved = record.load_record(osp.join(work, record.SELECTION_FILE))
    assert saved['weighted'] is True and saved['weights']['type'] == \
        'gradmatch'
    assert sorted(served) == sorted(saved['selection']['indices'])
    assert len(saved['selection']['weights']) == len(served)
