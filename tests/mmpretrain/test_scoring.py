"""Exact per-sample gradient norms of an mmpretrain ``ImageClassifier`` (data
preprocessor, backbone, neck, head), against batch-size-1 autograd."""
import os
import socket
import warnings

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from mmengine.dataset import default_collate, pseudo_collate
from mmpretrain.registry import DATASETS
from torch.utils.data import DataLoader, TensorDataset

from mmcls_geda.scoring import grad_embeddings, grad_norms, grad_norms_loop
from .conftest import local_cifar_cfg, make_classifier


@pytest.fixture(scope='module')
def dataset(cifar10_root):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the md5 sums differ
        return DATASETS.build(local_cifar_cfg(cifar10_root, split='test'))


def loader(dataset, batch_size=8, collate=pseudo_collate):
    return DataLoader(dataset, batch_size=batch_size, collate_fn=collate)


def trained(model, dataset):
    """A few SGD steps through mmpretrain's own loss: the running
    statistics and weights move away from their initial values."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for batch in DataLoader(
            dataset, batch_size=10, shuffle=True, collate_fn=pseudo_collate):
        data = model.data_preprocessor(batch, training=True)
        opt.zero_grad()
        model.loss(data['inputs'], data['data_samples'])['loss'].backward()
        opt.step()
    return model


def own_loss_norms(model, dataset) -> np.ndarray:
    """The reference that shares no code with the package: per sample,
    mmpretrain's own preprocessing and ``loss`` (a mean over a batch of
    one), in eval mode, and autograd over every trainable parameter."""
    params = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    out = []
    for i in range(len(dataset)):
        data = model.data_preprocessor(
            pseudo_collate([dataset[i]]), training=False)
        loss = model.loss(data['inputs'], data['data_samples'])['loss']
        grads = torch.autograd.grad(loss, params)
        out.append(
            float(torch.sqrt(sum(g.double().pow(2).sum() for g in grads))))
    return np.array(out)


@pytest.mark.parametrize('train', [False, True])
@pytest.mark.parametrize('collate', [pseudo_collate, default_collate])
def test_full_matches_autograd(dataset, train, collate):
    model = make_classifier()
    if train:
        trained(model, dataset)
    model.train()
    data = loader(dataset, collate=collate)
    norms, labels = grad_norms(model, data)
    assert norms.dtype == np.float64 and norms.shape == (30, )
    assert np.array_equal(labels, dataset.get_gt_labels())
    assert model.training and model.backbone.training  # mode restored
    np.testing.assert_allclose(norms, grad_norms_loop(model, data), rtol=1e-4)
    np.testing.assert_allclose(
        norms, own_loss_norms(model, dataset), rtol=1e-4)


def test_frozen_stages_are_left_out(dataset):
    model = make_classifier(seed=1)
    model.backbone.frozen_stages = 1
    model.backbone._freeze_stages()
    assert not model.backbone.layer1[0].conv1.weight.requires_grad
    data = loader(dataset, batch_size=7)
    norms, _ = grad_norms(model, data)
    np.testing.assert_allclose(
        norms, own_loss_norms(model, dataset), rtol=1e-4)


def test_last_layer_and_embeddings(dataset):
    model = trained(make_classifier(seed=2), dataset)
    data = loader(dataset, batch_size=16)
    norms, _ = grad_norms(model, data, scope='last_layer')
    np.testing.assert_allclose(
        norms, grad_norms_loop(model, data, scope='last_layer'), rtol=1e-5)
    g, h, labels = grad_embeddings(model, data)
    assert g.shape == (30, 10) and h.shape == (30, 8 * 8 + 1)
    np.testing.assert_allclose(
        np.linalg.norm(g, axis=1) * np.linalg.norm(h, axis=1),
        norms,
        rtol=1e-6)
    # cross-entropy: the gradient at the logits is softmax - onehot
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(
            pseudo_collate([dataset[i] for i in range(30)]), training=False)
        logits = model.head(model.extract_feat(batch['inputs']))
    expected = torch.softmax(logits.double(), 1) - torch.nn.functional.one_hot(
        torch.as_tensor(labels), 10).double()
    np.testing.assert_allclose(g, expected.numpy(), atol=1e-6)


def test_input_scope_is_the_preprocessed_input_norm(dataset):
    model = make_classifier()
    norms, _ = grad_norms(model, loader(dataset), scope='input')
    batch = model.data_preprocessor(
        pseudo_collate([dataset[i] for i in range(30)]), training=False)
    np.testing.assert_allclose(
        norms,
        batch['inputs'].double().flatten(1).norm(dim=1).numpy(),
        rtol=1e-6)


def test_wrong_batches_are_refused(dataset):
    model = make_classifier()
    pairs = DataLoader(
        TensorDataset(torch.randn(4, 3, 32, 32),
                      torch.zeros(4).long()))
    with pytest.raises(ValueError, match="'inputs', 'data_samples'"):
        grad_norms(model, pairs)
    unlabelled = [dict(inputs=dataset[i]['inputs']) for i in range(4)]
    with pytest.raises(ValueError, match='no gt_label'):
        grad_norms(model, DataLoader(unlabelled, collate_fn=pseudo_collate))


def test_a_wrapped_model_is_scored_through_its_module(dataset):
    """mmengine's model wrappers (here torch's DataParallel, which it
    registers; on the CPU it calls the module) are unwrapped."""
    model = make_classifier(seed=3)
    data = loader(dataset, batch_size=16)
    wrapped, _ = grad_norms(torch.nn.DataParallel(model), data)
    np.testing.assert_array_equal(wrapped, grad_norms(model, data)[0])
    np.testing.assert_allclose(
        wrapped,
        grad_norms_loop(torch.nn.DataParallel(model), data),
        rtol=1e-4)


def _odd_dataset(root):
    """9 samples: the shards of two processes differ in size."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return DATASETS.build(
            local_cifar_cfg(root, keep_classes=[0, 1, 2], per_class=3))


def _score_on_rank(rank, world, port, root, out_dir):
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    from mmpretrain.utils import register_all_modules

    import mmcls_geda  # noqa: F401 (a fresh process: register again)
    register_all_modules(init_default_scope=True)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        model = MMDistributedDataParallel(module=make_classifier(seed=4))
        norms, labels = grad_norms(model,
                                   loader(_odd_dataset(root), batch_size=4))
        np.save(os.path.join(out_dir, f'norms{rank}.npy'), norms)
        np.save(os.path.join(out_dir, f'labels{rank}.npy'), labels)
    finally:
        dist.destroy_process_group()


def test_distributed_two_processes_match_single(cifar10_root, tmp_path):
    """A gloo group of two, the model in mmengine's
    MMDistributedDataParallel: every rank gets all the norms, in dataset
    order, as one process computes them."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(
        _score_on_rank, args=(2, port, cifar10_root, str(tmp_path)), nprocs=2)
    single, labels = grad_norms(
        make_classifier(seed=4),
        loader(_odd_dataset(cifar10_root), batch_size=4))
    assert labels.tolist() == [0, 1, 2] * 3
    for rank in range(2):
        norms = np.load(tmp_path / f'norms{rank}.npy')
        np.testing.assert_allclose(norms, single, rtol=1e-5)
        assert np.array_equal(np.load(tmp_path / f'labels{rank}.npy'), labels)
