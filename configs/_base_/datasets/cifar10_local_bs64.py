# CIFAR-10 from a local copy (LocalCIFAR10: official pickles, checksums may
# differ, never downloaded), batch 64 on one GPU as in the thesis.
_base_ = ['./cifar10_bs16.py']
custom_imports = dict(imports=['mmcls_geda'], allow_failed_imports=False)
data = dict(
    samples_per_gpu=64,
    workers_per_gpu=2,
    train=dict(type='LocalCIFAR10'),
    val=dict(type='LocalCIFAR10'),
    test=dict(type='LocalCIFAR10'))
