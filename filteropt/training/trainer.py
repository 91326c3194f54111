"""The training loop: SGD (or Adam) on -VMAF over random crops, with checkpoints, resume and a NaN stop."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from filteropt.datasets.clips import Clip
from filteropt.datasets.patches import PatchBatch, sample_batch, split_clips
from filteropt.datasets.registry import load_dataset
from filteropt.errors import FilteroptError
from filteropt.plots import training_curve
from filteropt.training.config import TrainConfig
from filteropt.training.filters import filter_output, save_final_filter, trainable_filter
from filteropt.training.objective import ObjectiveValue, VmafObjective
from filteropt.training.run_folder import (
    check_folder,
    create_folder,
    latest_checkpoint,
    read_log,
    save_checkpoint,
    write_config,
    write_log,
)


@dataclass
class TrainResult:
    """A finished run: its folder, settings, trained filter, log and the train / held-out clips."""

    folder: Path
    config: TrainConfig
    module: nn.Module
    log: pd.DataFrame
    train_clips: list[Clip]
    held_out_clips: list[Clip]


def make_optimizer(config: TrainConfig, module: nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum (the default) or Adam, at the run's learning rate."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(module.parameters(), lr=config.lr, momentum=config.momentum)
    return torch.optim.Adam(module.parameters(), lr=config.lr)


def evaluate(module: nn.Module, objective: VmafObjective, batch: PatchBatch) -> ObjectiveValue:
    """The objective of `module` on a batch of crops (middle frames filtered)."""
    mid = batch.frames.shape[1] // 2
    return objective(batch.frames, filter_output(module, batch.frames[:, mid], batch.bit_depth))


def _finite_gradients(module: nn.Module) -> bool:
    return all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in module.parameters())


def _progress_bar(total: int, start: int, desc: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc=desc, unit="step", disable=not show, file=sys.stderr,
                dynamic_ncols=True)


def train(config: TrainConfig, out: str | Path, *, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train `config.filter` on `config.dataset` into run folder `out` (see run_folder for its layout).

    A run that stops (Ctrl-C, or a non-finite loss) keeps its checkpoints; `resume=True` with the same
    settings continues from the newest one and ends with the same filter as an uninterrupted run.
    """
    config = config.resolved()
    folder = Path(out)
    check_folder(folder, config, resume)
    clips = load_dataset(config.dataset, config.data_root, config.size, config.pix_fmt, config.seed).clips
    train_clips, held_out = split_clips(clips, config.held_out_every)
    if not train_clips:
        raise FilteroptError(f"dataset {config.dataset!r} has no usable clips to train on")
    create_folder(folder)

    torch.manual_seed(config.seed)
    module = trainable_filter(config.filter).build()
    optimizer = make_optimizer(config, module)
    generator = torch.Generator().manual_seed(config.seed)
    objective = VmafObjective(config.model, clip=False, mse_weight=config.mse_weight)
    # fixed held-out crops, scored at each checkpoint (the training crops' counterpart)
    held_batch = (sample_batch(held_out, config.batch, config.frames, config.crop,
                               torch.Generator().manual_seed(config.seed + 1)) if held_out else None)

    start, rows, elapsed = 0, [], 0.0
    found = latest_checkpoint(folder) if resume else None
    if found is not None:
        start, state = found
        module.load_state_dict(state["filter"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        elapsed = float(state.get("seconds", 0.0))
        rows = read_log(folder, start)
    write_config(folder, config, "running", start)

    def checkpoint(step: int, score_held_out: bool = True) -> None:
        if score_held_out and rows and rows[-1]["step"] == step and held_batch is not None:
            with torch.no_grad():
                held = evaluate(module, objective, held_batch)
            rows[-1].update(held_out_vmaf=held.vmaf, held_out_psnr=held.psnr)
        save_checkpoint(folder, step, {"filter": module.state_dict(), "optimizer": optimizer.state_dict(),
                                       "generator": generator.get_state(), "seconds": elapsed})
        write_log(folder, rows)

    step = start
    bar = _progress_bar(config.steps, start, f"train {config.filter}", progress)
    t0 = time.perf_counter() - elapsed
    try:
        while step < config.steps:
            batch = sample_batch(train_clips, config.batch, config.frames, config.crop, generator)
            value = evaluate(module, objective, batch)
            if not torch.isfinite(value.loss):
                _stop(folder, config, rows, step + 1, f"the loss became {float(value.loss.detach())}")
            optimizer.zero_grad(set_to_none=True)
            value.loss.backward()
            if not _finite_gradients(module):
                _stop(folder, config, rows, step + 1, "a gradient became non-finite")
            optimizer.step()
            step += 1
            elapsed = time.perf_counter() - t0
            rows.append({"step": step, "loss": float(value.loss.detach()), "vmaf": value.vmaf,
                         "psnr": value.psnr, "mse": value.mse, "held_out_vmaf": None, "held_out_psnr": None,
                         "seconds": round(elapsed, 3)})
            bar.update(1)
            bar.set_postfix(loss=f"{rows[-1]['loss']:.2f}", vmaf=f"{value.vmaf:.2f}", psnr=f"{value.psnr:.2f}",
                            refresh=False)
            if step % config.checkpoint_every == 0 or step == config.steps:
                checkpoint(step)
    except KeyboardInterrupt:
        if step > start and not (folder / "checkpoints" / f"step_{step:06d}.pt").exists():
            checkpoint(step, score_held_out=False)  # the log stays as an uninterrupted run's
        write_config(folder, config, "interrupted", step)
        bar.close()
        print(f"filteropt: interrupted after step {step}; checkpoint saved in {folder}/checkpoints, "
              "continue with the same command plus --resume", file=sys.stderr)
        raise
    bar.close()
    if not rows or rows[-1]["step"] != step or not (folder / "checkpoints" / f"step_{step:06d}.pt").exists():
        checkpoint(step)  # e.g. a resume of a finished run
    module.eval()
    meta = save_final_filter(folder, module)
    log = write_log(folder, rows)
    training_curve(log, folder / "curve.png", f"{config.filter} on {config.dataset}, {config.model}")
    write_config(folder, config, "finished", step, {"filter": meta, "seconds": round(elapsed, 1)})
    return TrainResult(folder, config, module, log, train_clips, held_out)


def _stop(folder: Path, config: TrainConfig, rows: list[dict], step: int, what: str) -> None:
    """Stop on a non-finite loss or gradient: keep the checkpoints and log, explain, raise."""
    write_log(folder, rows)
    found = latest_checkpoint(folder)
    write_config(folder, config, "stopped", step - 1)
    kept = f"the last good checkpoint (step {found[0]}) is kept" if found else "no checkpoint was written yet"
    raise FilteroptError(f"{what} at step {step}; training stopped and {kept} in {folder}; "
                         f"train again with a lower --lr (was {config.lr:g})")
