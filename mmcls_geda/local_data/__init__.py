"""Local data files, read without any engine (numpy and the standard
library): shared by the mmcls 0.x and mmpretrain 1.x datasets."""
