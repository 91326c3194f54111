"""Experiment configs: the shipped ones parse; small versions of each kind write their figures and tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from filteropt.cli.main import main
from filteropt.experiments.config import load_experiment
from filteropt.experiments.runner import best_alpha, run_experiment

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def test_shipped_configs_parse():
    kinds = {load_experiment(p).kind for p in EXPERIMENTS.glob("*.toml")}
    assert kinds == {"visual", "tradeoff", "rd", "cnn_vs_linear"}


def _config(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(body)
    return path


def test_visual_and_tradeoff_small(tmp_path):
    train = '[train]\nfilters = ["linear7"]\nsteps = 15\n'
    visual = _config(tmp_path, "v", f'kind = "visual"\n{train}[visual]\ncrop = 32\nzoom = 2\n')
    lines = run_experiment(visual, tmp_path / "results", progress=False, echo=lambda *_: None)
    assert (tmp_path / "results" / "v" / "fig1_visual.png").stat().st_size > 0
    assert len(lines) == 2 and all("PSNR-Y" in line for line in lines)
    run_dir = tmp_path / "results" / "runs" / "sample-linear7-seed0"
    kernel = (run_dir / "kernel.npy").read_bytes()
    tradeoff = _config(tmp_path, "t", f'kind = "tradeoff"\n{train}[tradeoff]\nalphas = "0,0.5,1"\nframes = 4\n')
    lines = run_experiment(tradeoff, tmp_path / "results", progress=False, echo=lambda *_: None)
    assert (run_dir / "kernel.npy").read_bytes() == kernel  # the finished run was reused, not retrained
    table = pd.read_csv(tmp_path / "results" / "t" / "tradeoff.csv")
    assert set(table["filter"]) == {"linear7", "unsharp:7:1"} and len(table) == 6
    assert (tmp_path / "results" / "t" / "tradeoff_matched.csv").exists()
    assert any("alpha 0" in line and "not 100" in line for line in lines)
    summary = json.loads((tmp_path / "results" / "t" / "summary.json").read_text())
    assert summary["kind"] == "tradeoff" and summary["findings"] == lines


def test_best_alpha_compares_candidates_on_common_sources():
    rows = [("a", "f:0.1", -10.0), ("a", "f:0.5", -20.0), ("b", "f:0.1", -30.0), ("b", "f:0.5", float("nan")),
            ("c", "f:0.1", 5.0), ("c", "f:0.5", -1.0)]
    table = pd.DataFrame([{"source": s, "filter": f, "metric": "vmaf", "bd_rate_percent": v} for s, f, v in rows])
    best, scores, sources = best_alpha(table, ["f:0.1", "f:0.5"])
    assert sources == ["a", "c"]  # b lacks f:0.5, so its -30 % does not count for f:0.1
    assert scores == {"f:0.1": -2.5, "f:0.5": -10.5} and best == "f:0.5"
    assert best_alpha(table[table["source"] == "b"], ["f:0.1", "f:0.5"]) is None


def test_bad_experiment_files(tmp_path, capsys):
    cases = [(tmp_path / "missing.toml", "does not exist"),
             (_config(tmp_path, "k", 'kind = "poster"\n'), "kind must be one of"),
             (_config(tmp_path, "f", 'kind = "rd"\n[train]\nfilters = ["cnn-huge"]\n'), "unknown filters"),
             (_config(tmp_path, "s", 'kind = "rd\n'), "not valid TOML")]
    for path, needle in cases:
        assert main(["experiment", "run", str(path), "--results", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err


@pytest.mark.slow
def test_rd_experiment_small(tmp_path):
    """The rd kind: paper settings plus alpha candidates; the best alpha by VMAF BD-rate is chosen."""
    config = _config(tmp_path, "rd", """kind = "rd"
[train]
filters = ["linear7"]
steps = 15
[rd]
filters = ["none", "unsharp:7:0.5", "{linear7}:0.25"]
preset = "ultrafast"
frames = 4
[rd.candidates]
"unsharp:7" = [0.5, 1.0]
"{linear7}" = [0.25, 0.5]
""")
    notes: list[str] = []
    lines = run_experiment(config, tmp_path / "results", progress=False, echo=notes.append)
    out = tmp_path / "results" / "rd"
    chosen = 0
    if (out / "best_alpha.csv").exists():  # only where some source gives every candidate a BD-rate
        best = pd.read_csv(out / "best_alpha.csv")
        chosen = len(best)
        for _, row in best.iterrows():  # the chosen alpha has the lowest VMAF BD-rate of its family
            scores = [row[c] for c in best.columns if c.startswith("bd_vmaf_at_")]
            assert row["bd_vmaf_percent"] == pytest.approx(min(s for s in scores if s == s))
    assert chosen + sum("no best alpha chosen" in n for n in notes) == 2
    results = pd.read_csv(out / "results.csv")
    assert "none" in set(results["filter"]) and len(set(results["filter"])) >= 3
    for name in ("rd_vmaf.png", "rd_vmaf_neg.png", "rd_psnr.png", "bdrate.csv", "bdrate_summary.csv"):
        assert (out / name).stat().st_size > 0
    assert lines and all("BD-rate" in line for line in lines)


def test_rd_experiment_on_a_netflix_folder(tmp_path):
    """The same config runs on the Netflix layout given by path: its held-out reference clips (raw
    .yuv) become the rd-eval sources."""
    import numpy as np

    from filteropt.datasets.sample import pan_clip

    root = tmp_path / "NFLX"
    (root / "ref").mkdir(parents=True)
    for name, photo in (("A_25fps.yuv", "astronaut"), ("B_25fps.yuv", "coffee"), ("C_25fps.yuv", "chelsea")):
        frames = pan_clip(photo, 160, 144, 4, velocity=(0.5, 0.3))
        with open(root / "ref" / name, "wb") as f:
            for plane in frames[:, 0].round().numpy().astype(np.uint8):
                f.write(plane.tobytes())
                f.write(np.full(2 * 80 * 72, 128, np.uint8).tobytes())
    (root / "NFLX_dataset_public.py").write_text(
        "yuv_fmt = 'yuv420p'\nwidth = 160\nheight = 144\n"
        "ref_videos = [{'path': 'ref/A_25fps.yuv'}, {'path': 'ref/B_25fps.yuv'}, {'path': 'ref/C_25fps.yuv'}]\n"
        "dis_videos = []\n")
    config = _config(tmp_path, "nf", """kind = "rd"
[data]
dataset = "netflix"
[train]
filters = ["linear7"]
steps = 4
[rd]
filters = ["none", "{linear7}:0.5"]
bitrates = [100, 300]
preset = "ultrafast"
""")
    run_experiment(config, tmp_path / "results", data_root=str(root), progress=False, echo=lambda *_: None)
    results = pd.read_csv(tmp_path / "results" / "nf" / "results.csv")
    assert set(results["source"]) == {"B_25fps"}  # the held-out clip (every 4th from the second)
    assert len(results) == 4 and (results["width"] == 160).all()
    saved = json.loads((tmp_path / "results" / "runs" / "netflix-linear7-seed0" / "config.json").read_text())
    assert saved["settings"]["dataset"] == "netflix"
