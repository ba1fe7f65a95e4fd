"""Per-sample weights and recorded losses on mmpretrain 1.x:
``WeightedImageClassifier`` (mmpretrain's ``ImageClassifier`` and its own
loss module) against a hand computation, fed by ``GEDASubsetDataset``'s
tagged data samples; the stack-free ``LossRecorder`` takes its losses."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmpretrain.registry import DATASETS, MODELS

from mmcls_geda.apis.loss_recorder import LossRecorder
from mmcls_geda.engines.mmpretrain.model import WeightedImageClassifier
from .conftest import local_cifar_cfg, small_classifier_cfg

INDICES = np.array([3, 14, 25, 36, 47, 58, 9, 20])
WEIGHTS = np.array([0.5, 2.0, 1.0, 0.0, 3.0, 1.5, 0.25, 4.0])


def build(kind='WeightedImageClassifier', **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(small_classifier_cfg(), type=kind, **kwargs))
    model.init_weights()
    return model


def wrapped_batch(root, weights=WEIGHTS, sample_idx=True):
    """A batch of the wrapper's items serving ``INDICES`` with ``weights``
    (None: unweighted), as the training loader collates it."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the tiny files' md5 sums differ
        ds = DATASETS.build(
            dict(
                type='GEDASubsetDataset',
                fraction=0.5,
                dataset=local_cifar_cfg(root)))
    ds.set_indices(INDICES, weights, resize=True)
    ds.serve_sample_idx(sample_idx)
    return pseudo_collate([ds[i] for i in range(len(ds))])


def gradients(model, loss):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.autograd.grad(loss, params)


def test_the_wrapper_tags_each_data_sample(cifar10_root):
    batch = wrapped_batch(cifar10_root)
    got = [(s.metainfo['sample_idx'], s.metainfo['sample_weight'])
           for s in batch['data_samples']]
    assert got == list(zip(INDICES.tolist(), WEIGHTS.astype(np.float32)))
    plain = wrapped_batch(cifar10_root, weights=None)
    assert all('sample_weight' not in s.metainfo
               for s in plain['data_samples'])


@pytest.mark.parametrize('normalize', [True, False])
def test_weights_scale_each_samples_gradient(cifar10_root, normalize):
    """The weighted loss's gradient is ``sum w_i g_i / sum w`` (or ``/ N``
    with ``normalize_weights=False``), ``g_i`` the gradient of mmpretrain's
    own ``ImageClassifier.loss`` of sample i alone (eval mode: no batch
    statistics couple the samples); in train mode it is the hand-weighted
    cross-entropy of the same logits."""
    model = build(normalize_weights=normalize)
    plain = build('ImageClassifier')
    plain.load_state_dict(model.state_dict())
    data = model.data_preprocessor(wrapped_batch(cifar10_root), True)
    w = torch.tensor(WEIGHTS, dtype=torch.float32)
    denominator = w.sum() if normalize else float(len(w))

    model.eval(), plain.eval()
    got = gradients(model, model(**data, mode='loss')['loss'])
    each = [
        gradients(
            plain,
            plain(
                data['inputs'][i:i + 1], [data['data_samples'][i]],
                mode='loss')['loss']) for i in range(len(w))
    ]
    for k, g in enumerate(got):
        want = sum(w[i] * each[i][k] for i in range(len(w))) / denominator
        torch.testing.assert_close(g, want, rtol=1e-4, atol=1e-6)

    model.train()
    got = gradients(model, model(**data, mode='loss')['loss'])
    logits = model.head(model.extract_feat(data['inputs']))
    labels = torch.cat([s.gt_label for s in data['data_samples']])
    by_hand = (w * F.cross_entropy(logits, labels, reduction='none')).sum()
    for g, h in zip(got, gradients(model, by_hand / denominator)):
        torch.testing.assert_close(g, h, rtol=1e-5, atol=1e-7)


def test_unweighted_batches_train_as_image_classifier(cifar10_root):
    model = build()
    plain = build('ImageClassifier')
    plain.load_state_dict(model.state_dict())
    data = model.data_preprocessor(
        wrapped_batch(cifar10_root, weights=None), True)
    model.eval(), plain.eval()
    assert model(
        **data, mode='loss')['loss'].item() == pytest.approx(
            plain(**data, mode='loss')['loss'].item(), rel=1e-6)
    assert model.recorded_losses is None  # recording is off


def test_recorded_losses_are_the_per_sample_cross_entropy(cifar10_root):
    model = build(record_losses=True)
    model.eval()
    data = model.data_preprocessor(wrapped_batch(cifar10_root), True)
    model(**data, mode='loss')
    indices, losses = model.recorded_losses
    logits = model.head(model.extract_feat(data['inputs']))
    labels = torch.cat([s.gt_label for s in data['data_samples']])
    assert indices.tolist() == INDICES.tolist()
    torch.testing.assert_close(
        losses,
        F.cross_entropy(logits, labels, reduction='none').detach())
    # the stack-free recorder takes them (one process: no group)
    recorder = LossRecorder('GEDASubsetDataset.serve_sample_idx')
    recorder.start(60)
    recorder.take(model)
    assert model.recorded_losses is None
    recorder.end_epoch()
    last = recorder.last()
    assert np.allclose(last[INDICES], losses.numpy())
    assert np.isnan(np.delete(last, INDICES)).all()
    with pytest.raises(RuntimeError, match='no per-sample losses'):
        recorder.take(model)


def test_what_the_model_cannot_weigh_is_refused(cifar10_root):
    model = build(
        record_losses=True,
        train_cfg=dict(augments=dict(type='Mixup', alpha=1.0)))
    data = model.data_preprocessor(wrapped_batch(cifar10_root), True)
    with pytest.raises(TypeError, match='batch augments'):
        model(**data, mode='loss')
    model = build(record_losses=True)
    data = model.data_preprocessor(wrapped_batch(cifar10_root), True)
    for sample in data['data_samples']:
        del sample.sample_idx
    with pytest.raises(RuntimeError, match="needs 'sample_idx'"):
        model(**data, mode='loss')
    assert isinstance(model, WeightedImageClassifier)
