"""Selection report for a saved selection (the hook writes one too).

Reads ``geda_selection.json``, ``geda_norms.npy`` and ``geda_labels.npy``
from a work dir and writes ``geda_selection_report.png`` (per-class ECDF
of the scores, full set vs subset, and the histogram) and
``geda_selection_report.json`` (per-class counts, the thesis objective and
the exact integral of |F_full - F_subset|).

Usage: python tools/selection_report.py WORK_DIR [--out DIR] [--panels 20]
"""
import argparse
import json
import os.path as osp

import numpy as np

from mmcls_geda.report import write_report
from mmcls_geda.selection import Selection


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dir', help='holds geda_selection.json and the '
                        'saved norms and labels')
    parser.add_argument('--out', help='default: WORK_DIR')
    parser.add_argument('--panels', type=int, default=20,
                        help='classes drawn (the first ones)')
    args = parser.parse_args()
    paths = {name: osp.join(args.work_dir, name) for name in (
        'geda_selection.json', 'geda_norms.npy', 'geda_labels.npy')}
    missing = [p for p in paths.values() if not osp.isfile(p)]
    if missing:
        raise SystemExit(f'missing {", ".join(missing)}: run the hook or '
                         'tools/geda_select.py with save_norms=True first')
    with open(paths['geda_selection.json'], encoding='utf-8') as f:
        record = json.load(f)
    selection = Selection.from_dict(record['selection'])
    norms = np.load(paths['geda_norms.npy'])
    labels = np.load(paths['geda_labels.npy'])
    out = write_report(norms, labels, selection, args.out or args.work_dir,
                       max_panels=args.panels)
    print(f'wrote {out["png"]} and {out["json"]}')


if __name__ == '__main__':
    main()
