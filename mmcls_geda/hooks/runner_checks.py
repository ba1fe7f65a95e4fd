"""What the hooks check of the runner and the model, and read of the run."""
import inspect

from mmcv.parallel import is_module_wrapper
from mmcv.runner import EpochBasedRunner


def inner_model(runner):
    """The runner's model without its (Distributed)DataParallel wrapper."""
    model = runner.model
    return model.module if is_module_wrapper(model) else model


def check_runner(runner, hook) -> None:
    """EpochBasedRunner only; warn unless the hook runs first."""
    name = type(hook).__name__
    if not isinstance(runner, EpochBasedRunner):
        raise TypeError(
            f'{name} works with EpochBasedRunner only (it changes the data '
            'before an epoch\'s loader starts); got '
            f'{type(runner).__name__}')
    if getattr(hook, 'priority', None) not in (None, 0):
        runner.logger.warning(f"{name} should be registered with "
                              "priority='HIGHEST' so that it runs before "
                              'other hooks')


def check_weighted_model(model,
                         who: str,
                         otherwise: str,
                         unnormalised: bool = False,
                         needs: str = 'sample_weight') -> None:
    """A TypeError unless ``model`` takes per-sample weights (normalised or
    not, as asked) and has no batch augments that would mix samples.

    Args:
        model: The inner model.
        who: What needs the weights, for the message.
        otherwise: The other way out, for the message.
        unnormalised: Whether ``normalize_weights=False`` is required.
        needs: The per-sample input the model must take:
            ``'sample_weight'`` (weights) or ``'sample_idx'`` (it records
            per-sample training losses).
    """
    does = ('trains with per-sample weights' if needs == 'sample_weight' else
            'records per-sample training losses')
    takes = needs in inspect.signature(model.forward_train).parameters
    if not takes or (unnormalised and model.normalize_weights):
        wanted = ('WeightedImageClassifier with normalize_weights=False (the '
                  'weighted loss must be averaged over the batch to stay '
                  'unbiased)' if unnormalised else 'WeightedImageClassifier')
        raise TypeError(f'{who} {does}: set '
                        f"model.type='{wanted}', or {otherwise}; got "
                        f'{type(model).__name__}' +
                        (f', normalize_weights={model.normalize_weights}'
                         if takes else ''))
    if getattr(model, 'augments', None) is not None:
        raise TypeError(
            f'{who} {does}, and batch augments '
            '(Mixup/CutMix, train_cfg.augments) mix samples, so a weight '
            f'would apply to the wrong sample: drop train_cfg.augments, or '
            f'{otherwise}')


def eval_pipeline(runner):
    """The transforms of the run's evaluation loader, if it has one (the
    default scoring pipeline is derived from them)."""
    for hook in runner.hooks:
        dataset = getattr(getattr(hook, 'dataloader', None), 'dataset', None)
        if hasattr(dataset, 'pipeline'):
            return dataset.pipeline.transforms
    return None
