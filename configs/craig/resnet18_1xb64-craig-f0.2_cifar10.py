# CRAIG (chosen once, R = 0) with the same budgets, runner and data as
# GEDA: per class, from last-layer gradient embeddings at epoch 0; the
# subset trains with its per-sample weights (WeightedImageClassifier).
_base_ = ['../geda/resnet18_1xb64-geda-f0.2_cifar10.py']
model = dict(type='WeightedImageClassifier')
custom_hooks = [dict(type='GradNormHook', method='craig', priority='HIGHEST')]
