# The thesis's schedule (Appendix A): 12 epochs, SGD momentum 0.9, weight
# decay 1e-4, one-cycle learning rate from 1e-3 up to 100x that (0.1) and
# down to 1e-5 (CIFAR-10).
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
optimizer_config = dict(grad_clip=None)
lr_config = dict(
    policy='OneCycle',
    max_lr=0.1,
    div_factor=100,  # initial 0.1 / 100 = 1e-3
    final_div_factor=100,  # final 1e-3 / 100 = 1e-5
    by_epoch=False)
runner = dict(type='EpochBasedRunner', max_epochs=12)
