"""`filteropt experiment run experiments/NAME.toml`: one reproducible experiment into results/NAME/."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="run an experiment config (experiments/*.toml) into results/",
                       description="Run an experiment: train (or reuse) its filters, then write its figures, "
                                   "CSVs and summary into RESULTS/NAME/.")
    actions = p.add_subparsers(dest="action", required=True)
    run_p = actions.add_parser("run", help="run one experiment file")
    run_p.add_argument("config", metavar="experiments/NAME.toml")
    run_p.add_argument("--results", default="results", metavar="DIR",
                       help="results folder (default %(default)s); trained filters go to DIR/runs")
    run_p.add_argument("--data-root", metavar="DIR", help="dataset folder for configs that use netflix or folder")
    run_p.add_argument("--quiet", action="store_true", help="no progress bars")
    run_p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from filteropt.experiments.runner import run_experiment

    lines = run_experiment(args.config, args.results, args.data_root, progress=not args.quiet)
    for line in lines:
        print(line)
    return 0
