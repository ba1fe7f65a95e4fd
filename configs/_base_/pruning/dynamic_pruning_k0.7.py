# Dynamic pruning's sampler and hook (README, "Save compute without a static
# subset"); a config that inherits this also wraps data.train in
# DynamicPruningDataset and sets model.type='WeightedImageClassifier' with
# normalize_weights=False (see configs/pruning/).
sampler = dict(type='DynamicPruningSampler')
custom_hooks = [
    dict(
        type='DynamicPruningHook',
        keep=0.7,  # the share of the data a pruned epoch processes
        anneal=0.125,  # the share of the epochs, at the end, on all data
        seed=0,
        priority='HIGHEST')
]
