# Dynamic pruning by InfoBatch's rule (docs/pruning.md): the sampler and the
# hook. A config that inherits this also wraps data.train in
# DynamicPruningDataset and sets model.type='WeightedImageClassifier' with
# normalize_weights=False (see configs/pruning/).
sampler = dict(type='DynamicPruningSampler')
custom_hooks = [
    dict(
        type='DynamicPruningHook',
        ratio=0.5,  # drop probability of a below-mean-loss sample
        rule='infobatch',  # 'random': the control (uniform candidates)
        anneal=0.125,  # the share of the epochs, at the end, on all data
        seed=0,
        priority='HIGHEST')
]
