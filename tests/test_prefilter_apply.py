"""Filter specs, `filteropt export` and `filteropt apply` (both engines, all containers), CNN prefilters."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from filteropt.cli.main import main
from filteropt.datasets.sample import pan_clip
from filteropt.errors import FilteroptError
from filteropt.export.ffmpeg_filters import linear_to_ffmpeg
from filteropt.export.spec_export import export_filter
from filteropt.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from filteropt.media.video import VideoReader
from filteropt.prefilters.apply import apply_filter
from filteropt.prefilters.cnn import CNN_ARCHS, ResidualCNN, parameter_count, save_cnn
from filteropt.prefilters.spec import build_filter, parse_spec, resolve_spec

REPO = Path(__file__).resolve().parents[1]
W, H, N = 96, 64, 3
PIX_FMTS = {8: "yuv420p", 10: "yuv420p10le"}


# ---------------------------------------------------------------- helpers and fixtures

def natural_raw(path: Path, pix_fmt: str, width: int = W, height: int = H, frames: int = N) -> Path:
    """A raw planar file whose luma and chroma planes are pans over different photos."""
    depth = 10 if pix_fmt.endswith("10le") else 8
    sub = 2 if pix_fmt.startswith("yuv420") else 1
    cw, ch = -(-width // sub), -(-height // sub)
    planes = [pan_clip("astronaut", width, height, frames, bit_depth=depth, velocity=(0.7, 0.4)),
              pan_clip("coffee", cw, ch, frames, bit_depth=depth, velocity=(-0.5, 0.3)),
              pan_clip("chelsea", cw, ch, frames, bit_depth=depth, velocity=(0.4, -0.6))]
    dtype = np.uint8 if depth == 8 else np.dtype("<u2")
    with open(path, "wb") as f:
        for i in range(frames):
            for plane in planes:
                f.write(plane[i, 0].numpy().astype(dtype).tobytes())
    return path


def convert(src: Path, dst: Path, pix_fmt: str, fps: str = "25", size: str = f"{W}x{H}") -> Path:
    """Raw file -> .y4m or .mkv (FFV1) with ffmpeg itself."""
    out_args = ["-strict", "-1"] if dst.suffix == ".y4m" else ["-c:v", "ffv1"]
    run_ffmpeg(["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", size, "-framerate", fps, "-i", str(src),
                *out_args, "-y", str(dst)])
    return dst


def decoded(path: Path, pix_fmt: str, size: str = f"{W}x{H}") -> bytes:
    """All planes of a video as raw bytes, decoded by ffmpeg itself."""
    args = ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", size] if path.suffix == ".yuv" else []
    return run_ffmpeg([*args, "-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]).stdout


def split_planes(raw: bytes, pix_fmt: str, width: int = W, height: int = H) -> tuple[np.ndarray, np.ndarray]:
    """(luma [N,H,W], chroma bytes [N, ...]) as int arrays."""
    depth = 10 if pix_fmt.endswith("10le") else 8
    dtype = np.uint8 if depth == 8 else np.dtype("<u2")
    sub = 2 if pix_fmt.startswith("yuv420") else 1
    luma_n, chroma_n = width * height, 2 * (-(-width // sub)) * (-(-height // sub))
    data = np.frombuffer(raw, dtype=dtype).reshape(-1, luma_n + chroma_n)
    return data[:, :luma_n].reshape(-1, height, width).astype(np.int64), data[:, luma_n:].astype(np.int64)


def assert_close_luma(a: np.ndarray, b: np.ndarray) -> None:
    """>= 99.9 % identical luma, never more than 1 code apart."""
    same = float((a == b).mean())
    worst = int(np.abs(a - b).max())
    assert same >= 0.999 and worst <= 1, f"{100 * same:.3f}% identical, max diff {worst}"


def trained_kernels(seed: int) -> list[tuple[np.ndarray, float]]:
    """(kernel, alpha): a wild random one, identity-plus-noise (trained-looking) and a blur."""
    rng = np.random.default_rng(seed)
    ident = np.zeros((7, 7))
    ident[3, 3] = 1.0
    delta = rng.normal(0.0, 0.06, (7, 7))
    g = np.exp(-np.arange(-2, 3) ** 2 / 2.0)
    return [(rng.normal(0.0, 0.3, (5, 5)), float(rng.uniform(0.2, 1.0))),
            (ident + delta - delta.mean(), float(rng.uniform(0.2, 1.0))),
            (np.outer(g, g) / np.outer(g, g).sum(), 1.0)]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    """Natural test videos at 8 and 10 bit as .yuv, .y4m (29.97 fps) and .mkv."""
    folder = tmp_path_factory.mktemp("media")
    out = {}
    for depth, pix_fmt in PIX_FMTS.items():
        raw = natural_raw(folder / f"in{depth}.yuv", pix_fmt)
        out[depth] = {"yuv": raw, "y4m": convert(raw, folder / f"in{depth}.y4m", pix_fmt, "30000/1001"),
                      "mkv": convert(raw, folder / f"in{depth}.mkv", pix_fmt, "24")}
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, ResidualCNN]:
    """A small CNN with random (non-zero) weights saved as a checkpoint."""
    torch.manual_seed(0)
    cnn = ResidualCNN("cnn3k", alpha=0.8)
    with torch.no_grad():
        for p in cnn.parameters():
            p.normal_(0.0, 0.08)
    path = tmp_path_factory.mktemp("cnn") / "small.pt"
    save_cnn(path, cnn)
    return path, cnn.eval()


def run_main(capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in this process: (exit code, stderr)."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("filteropt: error:") and needle in lines[0], err
    assert "Traceback" not in err


def assert_nothing_at(out: Path) -> None:
    assert not out.exists()
    assert not out.parent.is_dir() or not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


# ---------------------------------------------------------------- specs

def test_parse_spec_forms():
    assert parse_spec("none").kind == "none"
    s = parse_spec("unsharp:7:0.5")
    assert (s.kind, s.size, s.amount) == ("unsharp", 7, 0.5)
    s = parse_spec("kernel:k.npy")
    assert (s.kind, s.path, s.alpha) == ("kernel", Path("k.npy"), 1.0)
    assert parse_spec("kernel:dir/k.json:0.25").alpha == 0.25
    s = parse_spec("cnn:a:b.pt")  # colons inside a path are kept; only a numeric last field is ALPHA
    assert (s.path, s.alpha) == (Path("a:b.pt"), 1.0)
    s = parse_spec("cnn:a:b.pt:0")
    assert (s.path, s.alpha) == (Path("a:b.pt"), 0.0)
    s = parse_spec("run:runs/r1:0.5")
    assert (s.kind, s.path, s.alpha) == ("run", Path("runs/r1"), 0.5)


@pytest.mark.parametrize("text,needle", [
    ("", "empty"), ("blur:3", "unknown kind"), ("none:1", "no arguments"), ("unsharp:7", "SIZE and AMOUNT"),
    ("unsharp:4:1", "SIZE 4"), ("unsharp:15:1", "SIZE 15"), ("unsharp:x:1", "not an integer"),
    ("unsharp:7:6", "outside"), ("unsharp:7:abc", "not a number"), ("kernel:", "needs a path"),
    ("kernel:k.npy:nan", "finite"), ("cnn:c.pt:inf", "finite"),
])
def test_malformed_specs(text, needle):
    with pytest.raises(FilteroptError, match=needle) as info:
        parse_spec(text)
    assert "\n" not in str(info.value) and "use none, unsharp:SIZE:AMOUNT" in str(info.value)


def test_bad_kernels(tmp_path):
    cases = {"rect.npy": np.zeros((3, 5)), "even.npy": np.eye(4), "nan.npy": np.full((3, 3), np.nan),
             "big.npy": np.ones((9, 9)), "flat.npy": np.ones(9)}
    needles = {"rect.npy": "square", "even.npy": "odd", "nan.npy": "non-finite", "big.npy": "at most 7x7",
               "flat.npy": "shape"}
    for name, kernel in cases.items():
        np.save(tmp_path / name, kernel)
        with pytest.raises(FilteroptError, match=needles[name]):
            build_filter(f"kernel:{tmp_path / name}")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "k.txt").write_text("1 0 0")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    for name, needle in (("bad.json", "not readable"), ("k.txt", ".npy or .json"), ("junk.npy", "not readable"),
                         ("missing.npy", "does not exist")):
        with pytest.raises(FilteroptError, match=needle):
            build_filter(f"kernel:{tmp_path / name}")
    # a 9x9 with zero outer rings and a 1x1 are fine (trimmed / padded to what ffmpeg takes)
    padded = np.zeros((9, 9))
    padded[4, 4], padded[3, 4] = 0.8, 0.2
    np.save(tmp_path / "ringed.npy", padded)
    (tmp_path / "one.json").write_text(json.dumps({"kernel": [[1.0]]}))
    assert build_filter(f"kernel:{tmp_path / 'ringed.npy'}").size == 7
    assert build_filter(f"kernel:{tmp_path / 'one.json'}").ffmpeg_filter() == linear_to_ffmpeg(np.eye(1)).filter


def test_not_a_cnn(tmp_path, checkpoint):
    (tmp_path / "text.pt").write_text("hello")
    np.save(tmp_path / "array.npy", np.eye(3))
    torch.save({"state_dict": {}}, tmp_path / "dict.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    data = torch.load(checkpoint[0], weights_only=True)
    data["config"] = {"scale": 2, "width": 8, "hidden": 1}  # weights of another shape
    torch.save(data, tmp_path / "mismatch.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(torch.nn.Identity()), str(tmp_path / "foreign.ts.pt"))
    for name in ("text.pt", "array.npy", "dict.pt", "tensor.pt", "mismatch.pt", "foreign.ts.pt"):
        with pytest.raises(FilteroptError, match="not a filteropt CNN") as info:
            build_filter(f"cnn:{tmp_path / name}")
        assert "\n" not in str(info.value)
    with pytest.raises(FilteroptError, match="does not exist"):
        build_filter(f"cnn:{tmp_path / 'nope.pt'}")


def test_run_dirs(tmp_path, checkpoint):
    kernel = trained_kernels(1)[1][0]
    linear = tmp_path / "run_linear"
    linear.mkdir()
    np.save(linear / "kernel.npy", kernel)
    (linear / "filter.json").write_text(json.dumps({"kind": "linear", "kernel": "kernel.npy", "alpha": 0.5}))
    resolved = resolve_spec(parse_spec(f"run:{linear}:0.5"))
    assert (resolved.kind, resolved.path, resolved.alpha) == ("kernel", linear / "kernel.npy", 0.25)
    assert export_filter(f"run:{linear}:0.5").filter == linear_to_ffmpeg(kernel, 0.25).filter

    cnn_run = tmp_path / "run_cnn"
    cnn_run.mkdir()
    save_cnn(cnn_run / "cnn.pt", checkpoint[1])
    (cnn_run / "filter.json").write_text(json.dumps({"kind": "cnn", "checkpoint": "cnn.pt"}))
    module = build_filter(f"run:{cnn_run}")
    x = pan_clip("camera", 40, 30, 1)
    assert torch.equal(module.deploy(x), checkpoint[1].deploy(x))
    assert build_filter(f"run:{cnn_run}:0.5").alpha == pytest.approx(0.4)

    sharp = tmp_path / "run_unsharp"
    sharp.mkdir()
    (sharp / "filter.json").write_text(json.dumps({"kind": "unsharp", "size": 5, "amount": 1.5}))
    assert export_filter(f"run:{sharp}:0.5").filter == export_filter("unsharp:5:0.75").filter

    for bad, needle in (({"kind": "magic"}, "must hold"), ({"kind": "linear"}, "lacks")):
        (sharp / "filter.json").write_text(json.dumps(bad))
        with pytest.raises(FilteroptError, match=needle):
            build_filter(f"run:{sharp}")
    with pytest.raises(FilteroptError, match="does not exist"):
        build_filter(f"run:{tmp_path / 'no_run'}")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(FilteroptError, match="filter.json"):
        build_filter(f"run:{tmp_path / 'empty_run'}")


# ---------------------------------------------------------------- export

def test_export_cli_linear_json_and_unsharp(tmp_path, capsys):
    kernel, alpha = trained_kernels(2)[1]
    np.save(tmp_path / "k.npy", kernel)
    code = main(["export", "--filter", f"kernel:{tmp_path / 'k.npy'}:{alpha!r}", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    expected = linear_to_ffmpeg(kernel, alpha)
    assert code == 0 and data["filter"] == expected.filter and data["kind"] == "linear"
    assert np.array_equal(np.array(data["taps"]), expected.taps) and data["rdiv"] == expected.rdiv
    assert data["bias"] == 0.0 and data["worst_tap_error"] < 1e-6 and data["worst_pixel_error_8bit"] < 0.01
    assert main(["export", "--filter", "unsharp:7:0.5"]) == 0
    assert capsys.readouterr().out.strip() == "unsharp=luma_msize_x=7:luma_msize_y=7:luma_amount=0.5:chroma_amount=0"
    assert main(["export", "--filter", "none"]) == 0 and capsys.readouterr().out.strip() == "null"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("bit_depth", [8, 10])
def test_cnn_torchscript_equals_deploy(tmp_path, checkpoint, bit_depth):
    path, cnn = checkpoint
    result = export_filter(f"cnn:{path}", tmp_path / "small.ts.pt")
    assert result.torchscript.is_file() and "filteropt apply --filter" in result.command
    scripted = torch.jit.load(str(result.torchscript))
    x = pan_clip("coffee", 161, 91, 2, bit_depth=bit_depth)  # odd size: padding path
    ours = cnn.deploy(x, bit_depth)
    assert torch.equal(scripted(x, bit_depth), ours)
    assert torch.equal(build_filter(f"cnn:{result.torchscript}").deploy(x, bit_depth), ours)
    assert not torch.equal(ours, x) and ours.min() >= 0 and ours.max() <= (1 << bit_depth) - 1
    assert torch.equal(ours, ours.round())
    # ALPHA scales a TorchScript file too; alpha 0 is the identity
    assert torch.equal(build_filter(f"cnn:{result.torchscript}:0").deploy(x, bit_depth), x)


def test_cnn_modules():
    counts = {arch: parameter_count(ResidualCNN(arch)) for arch in CNN_ARCHS}
    assert 2500 <= counts["cnn3k"] <= 3500 and 25000 <= counts["cnn30k"] <= 35000
    x = pan_clip("astronaut", 37, 23, 2).double()
    for arch in CNN_ARCHS:
        cnn = ResidualCNN(arch)  # float32 weights, float64 input: computed in float64
        assert torch.equal(cnn(x), x)  # starts at the identity
        with torch.no_grad():
            for p in cnn.parameters():
                p.normal_(0.0, 0.05)
        xg = x.clone().requires_grad_(True)
        y = cnn(xg)
        assert y.shape == x.shape and y.dtype == torch.float64
        y.pow(2).mean().backward()
        assert xg.grad.abs().sum() > 0 and all(p.grad is not None for p in cnn.parameters())
        cnn.alpha = 0.0
        assert torch.equal(cnn.deploy(x), x.float())


def test_cnn_pipe_command_end_to_end(tmp_path, checkpoint, media):
    path, cnn = checkpoint
    result = export_filter(f"cnn:{path}", tmp_path / "pipe.ts.pt")
    src, out = media[10]["y4m"], tmp_path / "OUT.mkv"
    command = result.command.replace("IN", shlex.quote(str(src))).replace("OUT.mkv", shlex.quote(str(out)))
    command = command.replace("filteropt apply", f"{shlex.quote(sys.executable)} -m filteropt.cli.main apply")
    command = command.replace("ffmpeg ", f"{shlex.quote(ffmpeg_exe())} -v error ")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    luma_in, chroma_in = split_planes(decoded(src, "yuv420p10le"), "yuv420p10le")
    luma_out, chroma_out = split_planes(decoded(out, "yuv420p10le"), "yuv420p10le")
    expected = cnn.deploy(torch.from_numpy(luma_in[:, None].astype(np.float32)), 10)
    assert np.array_equal(luma_out, expected[:, 0].numpy().astype(np.int64))
    assert np.array_equal(chroma_out, chroma_in) and len(luma_out) == N


# ---------------------------------------------------------------- apply

def _check_preserved(out: Path, src: Path, pix_fmt: str, fps: tuple[int, int]) -> None:
    """Same pixel format, frame rate and frame count; chroma identical."""
    with VideoReader(out, size=f"{W}x{H}" if out.suffix == ".yuv" else None,
                     pix_fmt=pix_fmt if out.suffix == ".yuv" else None) as reader:
        assert reader.format.pix_fmt == pix_fmt and len(list(reader)) == N
        if out.suffix != ".yuv":
            assert reader.format.fps == fps
    assert np.array_equal(split_planes(decoded(out, pix_fmt), pix_fmt)[1],
                          split_planes(decoded(src, pix_fmt), pix_fmt)[1])


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_apply_engines_agree(tmp_path, media, bit_depth):
    pix_fmt = PIX_FMTS[bit_depth]
    raw_opts = {"size": f"{W}x{H}", "pix_fmt": pix_fmt}
    specs = []
    for i, (kernel, alpha) in enumerate(trained_kernels(bit_depth)):
        np.save(tmp_path / f"k{i}.npy", kernel)
        specs.append(f"kernel:{tmp_path / f'k{i}.npy'}:{alpha!r}")
    specs += ["unsharp:3:-1.5", "unsharp:7:2.3", "unsharp:11:0.6"]
    # each spec through one container pair: raw->y4m, y4m->mkv, mkv->yuv
    routes = [("yuv", "y4m"), ("y4m", "mkv"), ("mkv", "yuv")]
    for i, spec in enumerate(specs):
        src_kind, out_kind = routes[i % len(routes)]
        src = media[bit_depth][src_kind]
        opts = raw_opts if src_kind == "yuv" else {}
        outs = {}
        for engine in ("ffmpeg", "torch"):
            outs[engine] = tmp_path / f"s{i}_{engine}.{out_kind}"
            result = apply_filter(spec, src, outs[engine], engine=engine, progress=False, **opts)
            assert result.engine == engine and result.frames == N
        fps = {"yuv": (25, 1), "y4m": (30000, 1001), "mkv": (24, 1)}[src_kind]
        for engine in ("ffmpeg", "torch"):
            _check_preserved(outs[engine], src, pix_fmt, fps)
        luma = {e: split_planes(decoded(p, pix_fmt), pix_fmt)[0] for e, p in outs.items()}
        assert_close_luma(luma["torch"], luma["ffmpeg"])
        assert not np.array_equal(luma["ffmpeg"], split_planes(decoded(src, pix_fmt), pix_fmt)[0])


@pytest.mark.parametrize("bit_depth", [8, 10])
def test_alpha_zero_is_bit_exact(tmp_path, media, checkpoint, bit_depth):
    np.save(tmp_path / "k.npy", trained_kernels(3)[0][0])
    src = media[bit_depth]["yuv"]
    opts = {"size": f"{W}x{H}", "pix_fmt": PIX_FMTS[bit_depth], "progress": False}
    for spec, engines in ((f"kernel:{tmp_path / 'k.npy'}:0", ("ffmpeg", "torch")), ("unsharp:5:0", ("ffmpeg", "torch")),
                          (f"cnn:{checkpoint[0]}:0", ("torch",)), ("none", ("ffmpeg", "torch"))):
        for engine in engines:
            out = tmp_path / f"{engine}.yuv"
            apply_filter(spec, src, out, engine=engine, **opts)
            assert out.read_bytes() == src.read_bytes(), (spec, engine)


def test_apply_cnn_and_stdio(tmp_path, media, checkpoint, monkeypatch):
    path, cnn = checkpoint
    src = media[8]["y4m"]
    out = tmp_path / "cnn.y4m"
    assert apply_filter(f"cnn:{path}", src, out, progress=False).engine == "torch"
    luma_in = split_planes(decoded(src, "yuv420p"), "yuv420p")[0]
    expected = cnn.deploy(torch.from_numpy(luma_in[:, None].astype(np.float32)), 8)[:, 0].numpy()
    assert np.array_equal(split_planes(decoded(out, "yuv420p"), "yuv420p")[0], expected.astype(np.int64))
    _check_preserved(out, src, "yuv420p", (30000, 1001))
    # y4m through stdin and stdout (the pipe mode), here with the ffmpeg engine
    stdout = tmp_path / "stdout.y4m"
    with open(src, "rb") as fin, open(stdout, "wb") as fout:
        proc = subprocess.run([sys.executable, "-m", "filteropt.cli.main", "apply", "--filter", "unsharp:5:1",
                               "-", "-"], stdin=fin, stdout=fout, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.returncode == 0 and proc.stderr == b""
    apply_filter("unsharp:5:1", src, tmp_path / "file.y4m", engine="torch", progress=False)
    assert stdout.read_bytes() == (tmp_path / "file.y4m").read_bytes()


def test_apply_bad_input_cli(tmp_path, media, capsys):
    src = media[8]["y4m"]
    out = tmp_path / "out.mkv"
    np.save(tmp_path / "even.npy", np.eye(4))
    (tmp_path / "fake.pt").write_text("not a network")
    cases = [
        (["--filter", "unsharp:4:1"], out, "bad filter spec"),
        (["--filter", f"kernel:{tmp_path / 'even.npy'}"], out, "odd size"),
        (["--filter", f"cnn:{tmp_path / 'fake.pt'}"], out, "not a filteropt CNN"),
        (["--filter", f"kernel:{tmp_path / 'missing.npy'}"], out, "does not exist"),
        (["--filter", f"cnn:{tmp_path / 'fake.pt'}", "--engine", "torch"], tmp_path / "out.mp4", ".mkv"),
        (["--filter", "none"], tmp_path / "no_dir" / "out.y4m", "does not exist"),
        (["--filter", "none"], tmp_path / "folder.y4m", "it is a folder"),
    ]
    (tmp_path / "folder.y4m").mkdir()
    for args, target, needle in cases:
        code, err = run_main(capsys, "apply", *args, src, target)
        assert_one_line_error(code, err, needle)
        if not target.is_dir():
            assert_nothing_at(target)
    code, err = run_main(capsys, "apply", "--filter", "none", tmp_path / "nope.y4m", out)
    assert_one_line_error(code, err, "no such file")
    assert_nothing_at(out)


def test_apply_failure_leaves_nothing(tmp_path, media, checkpoint, capsys):
    # a y4m cut in the middle of a frame: both engines fail after writing some frames
    broken = tmp_path / "broken.y4m"
    broken.write_bytes(media[8]["y4m"].read_bytes()[:-1000])
    for engine, spec in (("ffmpeg", "unsharp:5:1"), ("torch", f"cnn:{checkpoint[0]}")):
        for suffix in (".y4m", ".mkv"):
            out = tmp_path / f"out_{engine}{suffix}"
            code, err = run_main(capsys, "apply", "--filter", spec, "--engine", engine, broken, out)
            assert_one_line_error(code, err, "truncated")
            assert_nothing_at(out)
    code, err = run_main(capsys, "apply", "--filter", f"cnn:{checkpoint[0]}", "--engine", "ffmpeg",
                         media[8]["y4m"], tmp_path / "x.y4m")
    assert_one_line_error(code, err, "--engine torch")
    # the real process: one line, exit 2, no traceback
    proc = subprocess.run([sys.executable, "-m", "filteropt.cli.main", "apply", "--filter", "kernel:nothing.npy",
                           str(media[8]["y4m"]), str(tmp_path / "y.y4m")], capture_output=True, text=True, cwd=REPO)
    assert_one_line_error(proc.returncode, proc.stderr, "does not exist")


def test_apply_gray_video(tmp_path):
    """Luma-only video: convolution runs in ffmpeg; unsharp (no gray in ffmpeg) falls back to torch."""
    luma = pan_clip("rocket", W, H, 2, bit_depth=10)
    src = tmp_path / "gray.yuv"
    src.write_bytes(luma[:, 0].numpy().astype("<u2").tobytes())
    np.save(tmp_path / "k.npy", trained_kernels(4)[1][0])
    opts = {"size": f"{W}x{H}", "pix_fmt": "gray10le", "progress": False}
    outs = [tmp_path / f"{e}.y4m" for e in ("ffmpeg", "torch")]
    for engine, out in zip(("ffmpeg", "torch"), outs):
        apply_filter(f"kernel:{tmp_path / 'k.npy'}:0.7", src, out, engine=engine, **opts)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert apply_filter("unsharp:5:1", src, tmp_path / "u.yuv", **opts).engine == "torch"
    expected = build_filter("unsharp:5:1").deploy(luma, 10)
    assert (tmp_path / "u.yuv").read_bytes() == expected[:, 0].numpy().astype("<u2").tobytes()
    with pytest.raises(FilteroptError, match="--engine torch"):
        apply_filter("unsharp:5:1", src, tmp_path / "v.yuv", engine="ffmpeg", **opts)
    assert not (tmp_path / "v.yuv").exists()
