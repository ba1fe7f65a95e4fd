"""What serves a subset, shared by both stacks (torch shared memory and
numpy; no engine): a served subset's state (``GEDASubsetDataset``), the
sampler core that serves each epoch's plan, no batch of one."""
from .plan_sampler import (PlanSampler, epoch_iterations, progress_iterations,
                           serve_epoch_plan, serve_fixed_epoch)
from .shared import SharedSubset

__all__ = [
    'PlanSampler', 'SharedSubset', 'epoch_iterations', 'progress_iterations',
    'serve_epoch_plan', 'serve_fixed_epoch'
]
