"""`filteropt train`: learn a prefilter against VMAF, then sweep its strength on held-out clips."""

from __future__ import annotations

import argparse
from pathlib import Path

from filteropt.datasets.registry import DATASETS
from filteropt.training.config import OPTIMIZERS, TrainConfig
from filteropt.training.filters import TRAINABLE_FILTERS
from filteropt.training.objective import TRAIN_MODELS

DEFAULT_BASELINE = "unsharp:7:1"


def add_parser(sub: argparse._SubParsersAction) -> None:
    defaults = TrainConfig()
    p = sub.add_parser("train", help="train a prefilter (7x7 kernel or CNN) to maximise VMAF",
                       description="Train a prefilter by SGD on the differentiable VMAF (unclipped score of the "
                                   "filtered frame against the original), then measure it against unsharp "
                                   "masking with libvmaf over a range of strengths on held-out clips.")
    p.add_argument("--dataset", default=defaults.dataset, choices=DATASETS,
                   help="netflix: the Netflix public VMAF dataset (--data-root); sample: embedded clips, no "
                        "download; folder: your clips (--data-root)")
    p.add_argument("--data-root", metavar="DIR", help="dataset folder (netflix: also $FILTEROPT_NETFLIX_ROOT)")
    p.add_argument("--size", metavar="WxH", help="frame size of raw .yuv clips in a folder dataset")
    p.add_argument("--pix-fmt", metavar="FMT", help="pixel format of raw .yuv clips (default yuv420p)")
    p.add_argument("--filter", default=defaults.filter, choices=list(TRAINABLE_FILTERS),
                   help="; ".join(f"{f.name}: {f.description}" for f in TRAINABLE_FILTERS.values()))
    p.add_argument("--steps", type=int, help="optimisation steps (default: per filter, "
                   + ", ".join(f"{f.name} {f.steps}" for f in TRAINABLE_FILTERS.values()) + ")")
    p.add_argument("--lr", type=float, help="learning rate (default: per filter and optimizer)")
    p.add_argument("--optimizer", default=defaults.optimizer, choices=OPTIMIZERS,
                   help="sgd (with momentum, the default) or adam")
    p.add_argument("--momentum", type=float, default=defaults.momentum, help="SGD momentum (default %(default)s)")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of crops and initialisation")
    p.add_argument("--batch", type=int, default=defaults.batch, help="crops per step (default %(default)s)")
    p.add_argument("--crop", type=int, default=defaults.crop, help="crop side in pixels (default %(default)s)")
    p.add_argument("--frames", type=int, default=defaults.frames,
                   help="consecutive frames per crop; the middle one is scored (default %(default)s)")
    p.add_argument("--model", default=defaults.model, choices=TRAIN_MODELS, help="VMAF model of the loss")
    p.add_argument("--mse-weight", type=float, default=defaults.mse_weight,
                   help="add this times the MSE (8-bit code values squared) to the loss (default 0: VMAF only)")
    p.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every, metavar="N",
                   help="save a checkpoint every N steps (default %(default)s)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/DATASET-FILTER)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--baseline", action="append", metavar="SPEC",
                   help=f"filter spec to compare against in the sweep, repeatable (default {DEFAULT_BASELINE}; "
                        "e.g. run:runs/sample-linear7 to compare a CNN with a learned kernel)")
    p.add_argument("--alphas", default="0:1:0.05", help="strengths of the sweep, START:STOP:STEP or a comma list "
                   "(default %(default)s)")
    p.add_argument("--no-sweep", action="store_true", help="skip the libvmaf alpha sweep after training")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from filteropt.training.held_out_sweep import sweep_run
    from filteropt.evaluation.alpha_sweep import parse_alphas
    from filteropt.training.trainer import train

    config = TrainConfig(dataset=args.dataset, data_root=args.data_root, size=args.size, pix_fmt=args.pix_fmt,
                         filter=args.filter, steps=args.steps, lr=args.lr, optimizer=args.optimizer,
                         momentum=args.momentum, seed=args.seed, batch=args.batch, crop=args.crop,
                         frames=args.frames, model=args.model, mse_weight=args.mse_weight,
                         checkpoint_every=args.checkpoint_every)
    alphas = tuple(parse_alphas(args.alphas))
    baselines = args.baseline or [DEFAULT_BASELINE]
    if not args.no_sweep:  # check the baseline specs before training, not after
        from filteropt.prefilters.spec import build_filter

        for spec in baselines:
            build_filter(spec)
    out = Path(args.out) if args.out else Path("runs") / f"{args.dataset}-{args.filter}"
    if not args.out and not out.parent.exists():
        out.parent.mkdir(parents=True)
    result = train(config, out, resume=args.resume, progress=not args.quiet)
    last = result.log.iloc[-1]
    print(f"trained {result.config.filter} for {int(last['step'])} steps in {out}: batch VMAF {last['vmaf']:.2f}, "
          f"PSNR {last['psnr']:.2f} dB")
    if (out / "ffmpeg_filter.txt").exists():
        print(f"ffmpeg filter: {(out / 'ffmpeg_filter.txt').read_text().strip()}")
    if args.no_sweep:
        return 0
    clips = result.held_out_clips or result.train_clips
    if not result.held_out_clips:
        print("note: the dataset has a single clip, so the sweep uses the training clip")
    report = sweep_run(out, result.module, f"run:{out}", clips, baselines, alphas, result.config.model,
                       progress=not args.quiet)
    for line in report.lines:
        print(line)
    print(f"sweep: {out / 'sweep.csv'}, {out / 'sweep.png'}, {out / 'matched.csv'}")
    return 0
