"""Selection report: per-class ECDFs (full set vs subset), histogram, JSON."""
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np

from .selection import Selection
from .selection.record import REPORT_JSON, REPORT_PNG


def report_record(norms: np.ndarray,
                  labels: np.ndarray,
                  selection: Selection,
                  classes: Optional[Sequence[str]] = None) -> Dict:
    """Per-class counts, objectives and score summaries, JSON-ready."""
    kept = np.zeros(labels.size, dtype=bool)
    kept[selection.indices] = True
    rows = []
    for i, label in enumerate(selection.classes):
        member = labels == label
        rows.append(
            dict(
                label=int(label),
                name=str(classes[label]) if classes is not None
                and label < len(classes) else str(label),
                n=int(member.sum()),
                kept=int((member & kept).sum()),
                objective=selection.objective[i],
                integral=selection.integral[i],
                score_mean_full=float(norms[member].mean()),
                score_mean_kept=float(norms[member & kept].mean()),
            ))
    return dict(
        method=selection.method,
        fraction=selection.fraction,
        objective_nodes=selection.objective_nodes,
        objective_rule=selection.objective_rule,
        objective_sum=float(np.sum(selection.objective)),
        integral_sum=float(np.sum(selection.integral)),
        classes=rows)


def write_report(norms: np.ndarray,
                 labels: np.ndarray,
                 selection: Selection,
                 out_dir: str,
                 classes: Optional[Sequence[str]] = None,
                 max_panels: int = 20) -> Dict[str, str]:
    """Write the PNG (ECDF grid + histogram) and the JSON of a selection.

    Args:
        norms: Scores of the whole training set, dataset order.
        labels: Labels, same order.
        selection: The selection made from them.
        out_dir: Where to write.
        classes: Class names.
        max_panels: At most this many classes get an ECDF panel (the first
            ones), so that 100-class reports stay legible.

    Returns:
        dict: ``{'png': path, 'json': path}``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    record = report_record(norms, labels, selection, classes)
    kept = np.zeros(labels.size, dtype=bool)
    kept[selection.indices] = True
    shown = record['classes'][:max_panels]
    cols = min(5, len(shown) + 1)
    rows = int(np.ceil((len(shown) + 1) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, row in zip(axes.flat, shown):
        member = labels == row['label']
        for values, style, name in [(norms[member], '-', 'full'),
                                    (norms[member & kept], '--', 'subset')]:
            xs = np.sort(values)
            ax.step(
                xs,
                np.arange(1, xs.size + 1) / xs.size,
                style,
                where='post',
                label=f'{name} ({xs.size})')
        ax.set_title(
            f"{row['name']}: obj {row['objective']:.3g}, "
            f"∫ {row['integral']:.3g}",
            fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc='lower right')
    hist_ax = axes.flat[len(shown)]
    bins = np.histogram_bin_edges(norms, bins=40)
    hist_ax.hist(norms, bins=bins, alpha=0.5, label='full', density=True)
    hist_ax.hist(
        norms[kept], bins=bins, alpha=0.5, label='subset', density=True)
    hist_ax.set_title('all classes: score histogram', fontsize=8)
    hist_ax.legend(fontsize=6)
    hist_ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(shown) + 1:]:
        ax.axis('off')
    fig.suptitle(
        f'{selection.method} at fraction {selection.fraction}: '
        'per-class ECDF of the scores, full set vs subset',
        fontsize=10)
    fig.tight_layout()
    png = osp.join(out_dir, REPORT_PNG)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    path = osp.join(out_dir, REPORT_JSON)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=1)
    return dict(png=png, json=path)
