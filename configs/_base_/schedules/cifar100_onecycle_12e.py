# The thesis's CIFAR-100 schedule: as CIFAR-10's, down to 1e-4 at the end.
_base_ = ['./cifar10_onecycle_12e.py']
lr_config = dict(final_div_factor=10)  # final 1e-3 / 10 = 1e-4
