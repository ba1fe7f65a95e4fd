"""Edits of plain config dicts that both stacks' ``apply_geda`` make
(stack-free)."""
from typing import Any, Dict


def import_plugin(cfg: Dict[str, Any]) -> None:
    """Add ``mmcls_geda`` to ``cfg``'s ``custom_imports`` (in place, once):
    the runner then registers the plugin's datasets and hooks."""
    imports = dict(cfg.get('custom_imports') or {})
    names = list(imports.get('imports', []))
    if 'mmcls_geda' not in names:
        names.append('mmcls_geda')
    cfg['custom_imports'] = dict(
        imports, imports=names, allow_failed_imports=False)
