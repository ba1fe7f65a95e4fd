"""Run an OpenMMLab stock script with the plugin registered (both stacks'
``tools/train*.py``); standard library and the stack-free file checks."""
import runpy
import sys
from typing import List, Optional

from .selection.files import check_folder


def work_dir_arg(argv: List[str]) -> Optional[str]:
    """The value of ``--work-dir`` in ``argv`` (the last one), or None."""
    found = None
    for i, arg in enumerate(argv):
        if arg == '--work-dir' and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith('--work-dir='):
            found = arg.split('=', 1)[1]
    return found


def run_stock_script(script: str, tool: str) -> None:
    """Run ``script`` as ``__main__`` with this process's arguments, after
    refusing a ``--work-dir`` that names a file, lies under one or cannot
    be written (the stock scripts fail there with a bare
    ``FileExistsError``, or after building everything).

    Args:
        script: The stock script's path.
        tool: This tool's name, for the message.
    """
    work_dir = work_dir_arg(sys.argv[1:])
    if work_dir is not None:
        try:
            check_folder(work_dir, '--work-dir')
        except ValueError as error:
            sys.exit(f'{tool}: error: {error}')
    runpy.run_path(script, run_name='__main__')
