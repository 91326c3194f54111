"""Training: the objective against libvmaf, runs that resume bit for bit, the NaN stop, the alpha
sweep's measurements, and one-line errors for bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from filteropt.cli.main import main
from filteropt.datasets.sample import pan_clip
from filteropt.errors import FilteroptError
from filteropt.media.libvmaf import libvmaf_on_tensors
from filteropt.prefilters.linear import LinearPrefilter
from filteropt.prefilters.unsharp import UnsharpPrefilter
from filteropt.training import trainer as trainer_module
from filteropt.training.config import TrainConfig
from filteropt.training.objective import VmafObjective
from filteropt.evaluation.alpha_sweep import at_alpha, held_out_files, measure, parse_alphas, psnr_y, strongest_alpha_at_psnr
from filteropt.training.trainer import train

# small and quick: 48x48 crops, 2 per step
QUICK = {"batch": 2, "crop": 48, "checkpoint_every": 3}


def sharpen(frames: torch.Tensor) -> torch.Tensor:
    """A fixed sharpening filter (a learned-looking kernel) applied in float."""
    f = LinearPrefilter(5, mean_preserving=False)
    with torch.no_grad():
        f.weight.fill_(-0.04)
        f.weight[2, 2] = 1.96
    return f(frames)


def test_objective_matches_libvmaf_on_middle_frame():
    """The objective's VMAF and PSNR of a crop clip equal libvmaf's for the middle frame."""
    clips = torch.stack([pan_clip("astronaut", 96, 64, 3, velocity=(0.8, 0.3)),
                         pan_clip("coffee", 96, 64, 3, velocity=(-0.5, 0.6))])  # [2,3,1,64,96]
    objective = VmafObjective(mse_weight=0.0)
    dis = sharpen(clips[:, 1]).round().clamp(0, 255)  # codes, so libvmaf sees the same frame
    value = objective(clips, dis)
    want_vmaf, want_psnr = [], []
    for b in range(2):
        ref = clips[b]
        full = torch.cat([ref[:1], dis[b:b + 1], ref[2:]])  # only the middle frame is filtered
        res = libvmaf_on_tensors(ref, full, "vmaf_float_v0.6.1", clip=False, psnr=True)
        want_vmaf.append(res.frames[1]["vmaf"])
        want_psnr.append(res.frames[1]["psnr_y"])
    assert value.vmaf == pytest.approx(sum(want_vmaf) / 2, abs=5e-3)
    assert min(want_vmaf) > 100.0  # sharpening raises the unclipped score above the identity's
    mse = float(((dis.detach() - clips[:, 1]) ** 2).mean())
    assert value.mse == pytest.approx(mse, rel=1e-6)
    # libvmaf's PSNR is per frame; ours is of the batch MSE: equal for one frame
    one = objective(clips[:1], dis[:1])
    assert one.psnr == pytest.approx(want_psnr[0], abs=1e-3)
    assert float(value.loss.detach()) == pytest.approx(-value.vmaf, rel=1e-6)
    weighted = VmafObjective(mse_weight=0.5)(clips, dis)
    assert float(weighted.loss.detach()) == pytest.approx(-value.vmaf + 0.5 * mse, rel=1e-5)


def test_objective_gradient_raises_vmaf():
    """One small step along the objective's gradient on a kernel raises the VMAF of held-out frames."""
    clips = pan_clip("chelsea", 96, 96, 3, velocity=(0.4, 0.2))[None]
    f = LinearPrefilter(7)
    objective = VmafObjective()
    before = objective(clips, f(clips[:, 1]))
    before.loss.backward()
    with torch.no_grad():
        f.weight -= 2e-4 * f.weight.grad / f.weight.grad.abs().max()
    after = objective(clips, f(clips[:, 1]))
    assert after.vmaf > before.vmaf


def _kernel(folder: Path) -> np.ndarray:
    return np.load(folder / "kernel.npy")


def test_resume_after_interrupt_is_bit_identical(tmp_path, monkeypatch):
    config = TrainConfig(steps=8, seed=3, **QUICK)
    straight = train(config, tmp_path / "straight", progress=False)

    real = trainer_module.sample_batch
    calls = {"n": 0}

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # the held-out batch is drawn first, then steps 1..5 run, step 6 is interrupted
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "sample_batch", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", progress=False)
    monkeypatch.setattr(trainer_module, "sample_batch", real)
    saved = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    assert saved == ["step_000003.pt", "step_000005.pt"]  # periodic, then the one written on Ctrl-C
    assert json.loads((tmp_path / "resumed" / "config.json").read_text())["status"] == "interrupted"
    resumed = train(config, tmp_path / "resumed", resume=True, progress=False)

    assert np.array_equal(_kernel(tmp_path / "straight"), _kernel(tmp_path / "resumed"))
    assert not np.array_equal(_kernel(tmp_path / "straight"), np.eye(7)[3:4].T @ np.eye(7)[3:4])
    cols = ["step", "loss", "vmaf", "psnr", "held_out_vmaf"]
    pd.testing.assert_frame_equal(straight.log[cols], resumed.log[cols])
    for name in ("filter.json", "ffmpeg_filter.txt", "curve.png", "log.csv"):
        assert (tmp_path / "resumed" / name).exists()


def test_resume_with_other_settings_and_other_folder_errors(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--steps", "2", "--batch", "2", "--crop", "48", "--no-sweep", "--quiet", "--out", str(out)]
    assert main(base) == 0
    assert (out / "filter.json").exists()
    capsys.readouterr()
    cases = [
        (base, "already holds a training run"),
        ([*base, "--resume", "--lr", "0.01"], "other settings"),
        (["train", "--resume", "--no-sweep", "--quiet", "--out", str(tmp_path / "none")], "nothing to resume"),
        (["train", "--no-sweep", "--quiet", "--out", str(tmp_path / "no" / "such" / "dir")], "does not exist"),
        (["train", "--no-sweep", "--quiet", "--steps", "0", "--out", str(tmp_path / "z")], "--steps"),
        (["train", "--no-sweep", "--quiet", "--lr", "-1", "--out", str(tmp_path / "z")], "--lr"),
        (["train", "--no-sweep", "--quiet", "--crop", "8", "--out", str(tmp_path / "z")], "--crop"),
        (["train", "--quiet", "--alphas", "1:0:x", "--out", str(tmp_path / "z")], "alpha list"),
        (["train", "--quiet", "--baseline", "unsharp:4:1", "--out", str(tmp_path / "z")], "filter spec"),
        (["train", "--dataset", "netflix", "--data-root", str(tmp_path / "nflx"), "--quiet",
          "--out", str(tmp_path / "z")], "--dataset sample"),
        (["train", "--dataset", "folder", "--data-root", str(tmp_path / "empty"), "--quiet",
          "--out", str(tmp_path / "z")], "folder"),
    ]
    (tmp_path / "empty").mkdir()
    (out / "stray.txt").write_text("x")
    cases.append((["train", "--no-sweep", "--quiet", "--out", str(out / "stray.txt")], "not an empty folder"))
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (argv, err)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "imagenet"])
    assert exc.value.code == 2
    assert not (tmp_path / "z").exists()  # failed checks create nothing


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    real = trainer_module.evaluate
    calls = {"n": 0}

    def poisoned(module, objective, batch):
        calls["n"] += 1
        value = real(module, objective, batch)
        if calls["n"] == 6:  # steps 1-3, the held-out crops at checkpoint 3, step 4, then step 5
            value.loss = value.loss * float("nan")
        return value

    monkeypatch.setattr(trainer_module, "evaluate", poisoned)
    out = tmp_path / "run"
    code = main(["train", "--steps", "10", "--batch", "2", "--crop", "48", "--checkpoint-every", "3",
                 "--no-sweep", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "nan at step 5" in err[0] and "step 3" in err[0] and "--lr" in err[0]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000003.pt"]
    assert json.loads((out / "config.json").read_text())["status"] == "stopped"
    assert pd.read_csv(out / "log.csv")["step"].tolist() == [1, 2, 3, 4]
    assert not (out / "filter.json").exists()


def test_measure_runs_exported_filter_in_ffmpeg_like_torch_deploy(tmp_path):
    """The sweep's measurement of a linear filter (its ffmpeg string inside the libvmaf graph) equals
    libvmaf on the torch-deployed frames; our PSNR of deployed frames equals libvmaf's."""
    clip = pan_clip("rocket", 80, 64, 3, velocity=(0.5, 0.5))
    from filteropt.datasets.clips import tensor_clip

    f = LinearPrefilter(5, mean_preserving=False).double()
    with torch.no_grad():
        f.weight.fill_(-0.03)
        f.weight[2, 2] = 1.72
    with held_out_files([tensor_clip("rocket", clip, 8)]) as held:
        got = measure(f, held, "vmaf_v0.6.1")
        res = libvmaf_on_tensors(clip, f.deploy(clip), "vmaf_v0.6.1", clip=False, psnr=True)
        assert got["vmaf"] == pytest.approx(float(res.column("vmaf").mean()), abs=1e-9)
        assert got["psnr_y"] == pytest.approx(float(res.column("psnr_y").mean()), abs=1e-9)
        assert psnr_y(f, held) == pytest.approx(got["psnr_y"], abs=1e-4)
        # unsharp at alpha: amount times alpha; the bisection finds the strongest alpha at a PSNR
        u = UnsharpPrefilter(5, 1.0)
        assert at_alpha(u, 0.25).deployed_amount() == pytest.approx(0.25)
        target = psnr_y(at_alpha(f, 0.5), held)
        alpha = strongest_alpha_at_psnr(f, held, target)
        assert 0.49 < alpha < 0.52 and psnr_y(at_alpha(f, alpha), held) >= target


def test_parse_alphas():
    assert parse_alphas("0:1:0.25") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert parse_alphas("0:1:0.05")[-1] == 1.0 and len(parse_alphas("0:1:0.05")) == 21
    assert parse_alphas("0.5,1") == [0.5, 1.0]
    for bad in ("1:0:0.1", "0:1:0", "a,b", "", "-1,2", "nan"):
        with pytest.raises(FilteroptError):
            parse_alphas(bad)


def test_train_cli_end_to_end_and_run_spec(tmp_path, capsys):
    """A short run writes every artefact; its sweep compares with unsharp by libvmaf; run:DIR exports."""
    out = tmp_path / "run"
    assert main(["train", "--steps", "30", "--batch", "4", "--crop", "64", "--alphas", "0,0.5,1",
                 "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "convolution=" in printed and "unsharp:7:1" in printed
    for name in ("config.json", "log.csv", "curve.png", "filter.json", "kernel.npy", "ffmpeg_filter.txt",
                 "sweep.csv", "sweep.png", "matched.csv", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    sweep = pd.read_csv(out / "sweep.csv")
    assert set(sweep["filter"]) == {f"run:{out}", "unsharp:7:1"} and len(sweep) == 6
    none = sweep[sweep["alpha"] == 0]
    assert none["vmaf"].nunique() == 1  # alpha 0 is the identity for both
    learned = sweep[sweep["filter"] == f"run:{out}"].set_index("alpha")
    assert learned.loc[1.0, "vmaf"] > learned.loc[0.0, "vmaf"]  # 30 steps already sharpen
    assert learned.loc[1.0, "psnr_y"] < learned.loc[0.0, "psnr_y"]
    matched = pd.read_csv(out / "matched.csv")
    assert list(matched["baseline_alpha"]) == [0.5, 1.0]
    assert (matched["learned_psnr_y"] >= matched["baseline_psnr_y"]).all()
    assert main(["export", "--filter", f"run:{out}:0.5"]) == 0
    assert capsys.readouterr().out.startswith("convolution=")
    log = pd.read_csv(out / "log.csv")
    assert log["step"].tolist() == list(range(1, 31)) and math.isfinite(log["held_out_vmaf"].iloc[-1])
