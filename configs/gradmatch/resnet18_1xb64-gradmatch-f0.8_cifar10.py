_base_ = ['./resnet18_1xb64-gradmatch-f0.2_cifar10.py']
data = dict(train=dict(fraction=0.8))
