"""The package on the mmpretrain 1.x stack: imports without mmcls / mmcv
1.x and registers its names in mmpretrain's registries."""
import subprocess
import sys


def test_package_imports_without_mmcls_and_registers_the_datasets():
    probe = '\n'.join([
        'import sys',
        'import mmcls_geda',
        'from mmcls_geda import scoring, selection',
        'from mmpretrain.registry import DATASETS, MODELS',
        'assert mmcls_geda.STACK == "mmpretrain", mmcls_geda.STACK',
        'assert "mmcls" not in sys.modules',
        'assert "mmcv.runner" not in sys.modules',
        'assert "mmcls_geda.hooks" not in sys.modules',
        'for name in ("GEDASubsetDataset", "LocalCIFAR10", "LocalCIFAR100"):',
        '    assert name in mmcls_geda.__all__',
        '    assert DATASETS.get(name) is getattr(mmcls_geda, name)',
        'assert MODELS.get("WeightedImageClassifier") is '
        'mmcls_geda.WeightedImageClassifier',
        'assert "mmcv.runner" not in sys.modules',  # the model needs none
        'print("ok")',
    ])
    out = subprocess.run([sys.executable, '-c', probe],
                         capture_output=True,
                         text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith('ok')


def test_custom_imports_of_an_mmengine_config_register_the_datasets(
        tmp_path, cifar10_root):
    """``custom_imports`` in an mmengine config, as the stock tools read
    it, then the dataset built from the registry by its name."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmengine.utils import import_modules_from_strings
    path = tmp_path / 'cfg.py'
    path.write_text(
        "custom_imports = dict(imports=['mmcls_geda'], "
        'allow_failed_imports=False)\n'
        'train_dataloader = dict(batch_size=4, num_workers=0, '
        "sampler=dict(type='DefaultSampler', shuffle=False), "
        f"dataset=dict(type='LocalCIFAR10', data_root={cifar10_root!r}, "
        "split='test', pipeline=[dict(type='PackInputs')]))\n")
    cfg = Config.fromfile(str(path))
    import_modules_from_strings(**cfg.custom_imports)
    loader = Runner.build_dataloader(cfg.train_dataloader)
    batch = next(iter(loader))
    assert len(loader.dataset) == 30
    assert len(batch['inputs']) == 4
    assert [int(s.gt_label) for s in batch['data_samples']] == [0, 1, 2, 3]
