# Dynamic pruning by InfoBatch's rule (docs/pruning.md): the sampler and the
# hook. A config that inherits this also wraps data.train in
# GEDASubsetDataset with fraction=1.0 and sets
# model.type='WeightedImageClassifier' with normalize_weights=False (see
# configs/pruning/; apply_pruning writes the same).
sampler = dict(type='EpochPlanSampler')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='infobatch',  # 'random_pruning': the control
        options=dict(
            ratio=0.5,  # drop probability of a below-mean-loss sample
            anneal=0.125),  # the share of the epochs, at the end, on all data
        seed=0,
        priority='HIGHEST')
]
