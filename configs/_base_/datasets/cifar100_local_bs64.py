# CIFAR-100 from a local copy (LocalCIFAR100: official pickles, checksums
# may differ, never downloaded), batch 64 on one GPU as in the thesis.
_base_ = ['./cifar100_bs16.py']
custom_imports = dict(imports=['mmcls_geda'], allow_failed_imports=False)
data = dict(
    samples_per_gpu=64,
    workers_per_gpu=2,
    train=dict(type='LocalCIFAR100'),
    val=dict(type='LocalCIFAR100'),
    test=dict(type='LocalCIFAR100'))
