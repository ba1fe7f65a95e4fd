# GEDA rotation: every class is cut into ceil(1 / 0.1) = 10 folds, each
# matching the class's ECDF of the gradient norms at epoch 0 (N = 5 nodes,
# trapezoid rule); epoch e trains on fold e mod 10, so every sample is seen
# once per 10 epochs. The second cycle is folded on the per-sample training
# losses recorded during the first (refold='loss': no extra pass), which
# the WeightedImageClassifier records.
_base_ = ['./resnet18_1xb64-rs2-f0.1_cifar10.py']
model = dict(type='WeightedImageClassifier')
custom_hooks = [
    dict(
        type='GradNormHook',
        method='geda_rotate',
        options=dict(nodes=5, rule='trapezoid', refold='loss'),
        scope='full',
        priority='HIGHEST')
]
