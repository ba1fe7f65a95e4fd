"""CRAIG and GRAD-MATCH: cases with a known answer, embeddings, weighting."""
import json

import numpy as np
import pytest
import torch
from mmcls.datasets import build_dataset
from mmcls.models import build_classifier
from torch.utils.data import DataLoader

from mmcls_geda import GradNormHook
from mmcls_geda.scoring import grad_embeddings
from mmcls_geda.selection import select_subset
from .conftest import (ServedIndices, make_model, make_runner,
                       small_resnet_cfg, tiny_data, train_loader, wrapper_cfg)


def clustered(sizes, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    return np.concatenate(
        [np.repeat(centres[i:i + 1], s, axis=0) for i, s in enumerate(sizes)])


def test_craig_picks_one_per_cluster_weighted_by_size():
    emb = clustered([5, 3, 2])
    sel = select_subset(emb, np.zeros(10, int), 0.3, 'craig')
    assert sel.indices.tolist() == [0, 5, 8]
    assert sel.weights.tolist() == [5.0, 3.0, 2.0]
    assert sel.method_objective == [1.0]  # full coverage


def test_craig_per_class_with_two_classes():
    emb = np.concatenate(
        [clustered([4, 2], seed=1),
         clustered([3, 3], seed=2)])
    labels = np.repeat([0, 1], 6)
    sel = select_subset(emb, labels, 2 / 6, 'craig')
    assert sel.class_counts == [2, 2]
    assert sorted(sel.weights.tolist()) == [2.0, 3.0, 3.0, 4.0]


def test_gradmatch_error_falls_with_budget_and_vanishes_on_support():
    emb = clustered([6, 5, 4, 3, 2], dim=8, seed=3)
    labels = np.zeros(20, int)
    errors = [
        select_subset(emb, labels, k / 20, 'gradmatch',
                      lam=1e-6).method_objective[0] for k in (1, 2, 3, 4, 5)
    ]
    assert all(a > b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1e-4  # five atoms cover the five distinct gradients
    sel = select_subset(emb, labels, 5 / 20, 'gradmatch', lam=1e-6)
    assert np.allclose(np.sort(sel.weights), [2, 3, 4, 5, 6], rtol=1e-3)


def test_factored_embeddings_equal_dense_ones():
    rng = np.random.default_rng(0)
    g, h = rng.normal(size=(40, 3)), rng.normal(size=(40, 5))
    dense = np.einsum('na,nb->nab', g, h).reshape(40, -1)
    labels = np.repeat([0, 1], 20)
    for method in ('craig', 'gradmatch'):
        a = select_subset((g, h), labels, 0.25, method)
        b = select_subset(dense, labels, 0.25, method)
        assert np.array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-6)


@pytest.mark.parametrize('scores, match', [
    (np.ones(6), '2-D'),
    ((np.ones((6, 2)), np.ones((5, 2))), 'differ in length'),
    (np.full((6, 2), np.nan), 'finite'),
])
def test_embedding_methods_bad_input(scores, match):
    with pytest.raises(ValueError, match=match):
        select_subset(scores, np.zeros(6, int), 0.5, 'craig')


def test_norm_methods_refuse_embeddings():
    with pytest.raises(ValueError, match='1-D scores'):
        select_subset(np.ones((6, 2)), np.zeros(6, int), 0.5, 'geda')


def test_grad_embeddings_are_the_fc_gradients():
    data = tiny_data(9)
    model = make_model(trained=True, data=data)
    g, h, labels = grad_embeddings(model, DataLoader(data, batch_size=4))
    assert g.shape == (9, 5) and h.shape == (9, 65)  # 64 features + bias
    model.eval()
    fc = model.head.fc
    for i, (x, y) in enumerate(zip(*data.tensors)):
        loss = model.head.compute_loss(
            model.head.simple_test(
                model.extract_feat(x[None]), softmax=False,
                post_process=False), y[None])
        gw, gb = torch.autograd.grad(loss, [fc.weight, fc.bias])
        full = torch.cat([gw, gb[:, None]], dim=1).double().numpy()
        # float32 forward passes of a batch and of one sample differ in
        # the last digits: tolerance relative to the largest entry
        np.testing.assert_allclose(
            np.outer(g[i], h[i]),
            full,
            rtol=1e-4,
            atol=1e-5 * np.abs(full).max())
    assert np.array_equal(labels, data.tensors[1].numpy())


def test_weighted_classifier_loss_is_the_weighted_mean():
    cfg = small_resnet_cfg()
    cfg['type'] = 'WeightedImageClassifier'
    torch.manual_seed(0)
    model = build_classifier(cfg)
    model.init_weights()
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    w = torch.tensor([1.0, 2.0, 3.0, 2.0], dtype=torch.float64)
    weighted = model(
        img=x, gt_label=y, sample_weight=w, return_loss=True)['loss']
    # same batch in train mode: BatchNorm sees the same batch statistics
    per_sample = model.head.compute_loss(
        model.head.simple_test(
            model.extract_feat(x), softmax=False, post_process=False),
        y,
        reduction_override='none')
    expected = (per_sample * w.float()).sum() / w.sum()
    assert torch.allclose(weighted, expected.float(), rtol=1e-5)
    plain = model(img=x, gt_label=y, return_loss=True)['loss']
    assert torch.allclose(plain, per_sample.mean(), rtol=1e-5)


def test_adaptive_gradmatch_reselects_every_epoch(cifar10_root, tmp_path):
    """R = 1 over 2 epochs: two selections, each served by its epoch,
    through persistent workers, with weights reaching the loss."""
    torch.manual_seed(0)
    ds = build_dataset(wrapper_cfg(cifar10_root, 0.5))
    cfg = small_resnet_cfg()
    cfg['type'] = 'WeightedImageClassifier'
    model = build_classifier(cfg)
    model.init_weights()
    loader = train_loader(ds)
    runner = make_runner(tmp_path, model, max_epochs=2)
    runner.register_hook(
        GradNormHook(
            method='gradmatch',
            interval=1,
            scoring_batch_size=16,
            scoring_workers=0,
            report=False),
        priority='HIGHEST')
    served = ServedIndices()
    runner.register_hook(served)
    weights_seen = []

    class Weights(ServedIndices):

        def after_train_iter(self, runner):
            weights_seen.append(runner.data_batch['sample_weight'])

    runner.register_hook(Weights())
    runner.run([loader], [('train', 1)])

    first = json.load(open(tmp_path / 'geda_selection_epoch0.json'))
    second = json.load(open(tmp_path / 'geda_selection_epoch1.json'))
    assert first['epoch'] == 0 and second['epoch'] == 1
    assert first['weighted'] and len(first['selection']['weights']) == 30
    per_epoch = np.split(np.concatenate(served.served), 2)
    for epoch, record in zip(per_epoch, (first, second)):
        assert np.array_equal(np.sort(epoch), record['selection']['indices'])
    assert first['selection']['indices'] != second['selection']['indices']
    assert weights_seen and not torch.all(torch.cat(weights_seen) == 1)


def test_weighted_method_needs_weighted_classifier(tmp_path):
    model = build_classifier(small_resnet_cfg())
    runner = make_runner(tmp_path, model)
    with pytest.raises(TypeError, match='WeightedImageClassifier'):
        GradNormHook(method='craig').before_run(runner)
    GradNormHook(method='craig', weighted=False).before_run(runner)
