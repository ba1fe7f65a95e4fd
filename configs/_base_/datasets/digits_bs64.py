# scikit-learn's 8x8 handwritten digits (shipped inside scikit-learn, so no
# download): 1,347 train / 450 test, fixed stratified split (SklearnDigits).
custom_imports = dict(imports=['mmcls_geda'], allow_failed_imports=False)
dataset_type = 'SklearnDigits'
img_norm_cfg = dict(mean=[78.0], std=[96.0], to_rgb=False)
train_pipeline = [
    dict(type='RandomCrop', size=8, padding=1),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='ToTensor', keys=['gt_label']),
    dict(type='Collect', keys=['img', 'gt_label'])
]
test_pipeline = [
    dict(type='Normalize', **img_norm_cfg),
    dict(type='ImageToTensor', keys=['img']),
    dict(type='Collect', keys=['img'])
]
data = dict(
    samples_per_gpu=64,
    workers_per_gpu=0,
    persistent_workers=False,  # no worker processes: the pipeline is light
    train=dict(type=dataset_type, pipeline=train_pipeline),
    val=dict(type=dataset_type, pipeline=test_pipeline, test_mode=True),
    test=dict(type=dataset_type, pipeline=test_pipeline, test_mode=True))
