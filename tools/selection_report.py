"""Selection report for a saved selection (the hook writes one too).

Reads ``geda_selection.json``, ``geda_norms.npy`` and ``geda_labels.npy``
from a work dir and writes ``geda_selection_report.png`` (per-class ECDF
of the scores, full set vs subset, and the histogram) and
``geda_selection_report.json`` (per-class counts, the thesis objective and
the exact integral of |F_full - F_subset|). For a scheduled run (warm-up,
re-selection, a second phase) it also prints ``geda_schedule.json``: one
line per phase change and selection.

Usage: .venv/bin/python tools/selection_report.py
    WORK_DIR [--out DIR] [--panels 20]
"""
import argparse
import json
import os.path as osp

from mmcls_geda.report import write_report
from mmcls_geda.selection import record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'work_dir',
        help='holds the selection record and the '
        'saved scores and labels')
    parser.add_argument('--out', help='default: WORK_DIR')
    parser.add_argument(
        '--panels',
        type=int,
        default=20,
        help='classes drawn (the first ones)')
    args = parser.parse_args()
    try:
        saved = record.load_record(
            osp.join(args.work_dir, record.SELECTION_FILE))
        norms, labels = record.load_scores(args.work_dir)
        record.check_scores_fit(saved, args.work_dir, norms, labels)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(str(err))
    out = write_report(
        norms,
        labels,
        record.selection_of(saved),
        args.out or args.work_dir,
        max_panels=args.panels)
    print(f'wrote {out["png"]} and {out["json"]}')
    schedule = osp.join(args.work_dir, record.SCHEDULE_FILE)
    if osp.isfile(schedule):
        with open(schedule, encoding='utf-8') as f:
            for event in json.load(f)['events']:
                print(format_event(event))


def format_event(event: dict) -> str:
    """One line of a ``geda_schedule.json`` event."""
    if event['phase'] == 'warmup':
        return (f'epoch {event["epoch"]}: warm-up, {event["passes"]:g} '
                f'passes over {event["epochs"]} epochs of {event["size"]}')
    line = (f'epoch {event["epoch"]}: {event["phase"]} phase, '
            f'{event["method"]} kept {event["size"]}')
    for key, name in (('objective', 'ECDF objective'), ('method_objective',
                                                        'method objective'),
                      ('reference_objective',
                       "GRAD-MATCH's own matching error")):
        if event.get(key) is not None:
            line += f', {name} {event[key]:.4g}'
    return (line + f', scoring {event["scoring_s"]:.1f}s, selection '
            f'{event["selection_s"]:.2f}s')


if __name__ == '__main__':
    main()
