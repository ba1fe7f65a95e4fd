"""A served subset's state, shared by both stacks' ``GEDASubsetDataset``
(torch shared memory and numpy; no engine)."""
from .shared import SharedSubset

__all__ = ['SharedSubset']
