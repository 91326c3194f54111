"""Datasets: NFLX descriptor parsing and name resolution, folder robustness, sample determinism, crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from filteropt.datasets.clips import tensor_clip
from filteropt.datasets.netflix import NETFLIX_ROOT_ENV, load_netflix, parse_descriptor
from filteropt.datasets.patches import patch_batches, split_clips
from filteropt.datasets.registry import load_dataset
from filteropt.datasets.sample import pan_clip
from filteropt.errors import FilteroptError
from filteropt.media import write_y4m


def _write_yuv420p(path, frames: torch.Tensor) -> None:
    """Raw yuv420p file from luma frames [N,1,H,W] (neutral chroma)."""
    n, _, h, w = frames.shape
    with open(path, "wb") as f:
        for plane in frames[:, 0].round().clamp(0, 255).numpy().astype(np.uint8):
            f.write(plane.tobytes())
            f.write(np.full(2 * (w // 2) * (h // 2), 128, np.uint8).tobytes())


@pytest.fixture()
def nflx_root(tmp_path):
    """A tiny NFLX-like folder: ref/ with two 32x16 yuv420p clips, dis/, and a descriptor naming them."""
    (tmp_path / "ref").mkdir()
    (tmp_path / "dis").mkdir()
    clips = {"A_25fps.yuv": pan_clip("astronaut", 32, 16, 5), "B_25fps.yuv": pan_clip("coffee", 32, 16, 6)}
    for name, frames in clips.items():
        _write_yuv420p(tmp_path / "ref" / name, frames)
    _write_yuv420p(tmp_path / "dis" / "A_90_32x16.yuv", clips["A_25fps.yuv"])
    (tmp_path / "NFLX_dataset_public.py").write_text(
        "dataset_name = 'NFLX_public'\nyuv_fmt = 'yuv420p'\nwidth = 32\nheight = 16\n"
        "ref_dir = '/somewhere/else/ref'\n"
        "ref_videos = [\n"
        " {'content_id': 0, 'content_name': 'A', 'path': '/original/machine/ref/A_25fps.yuv'},\n"
        " {'content_id': 1, 'content_name': 'B', 'path': ref_dir + '/B_25fps.yuv'},\n"
        "]\n"
        "dis_videos = [{'asset_id': 0, 'content_id': 0, 'dmos': 91.5, 'path': '/x/dis/A_90_32x16.yuv'}]\n"
    )
    return tmp_path, clips


def test_descriptor_parsed_without_execution(tmp_path):
    marker = tmp_path / "executed"
    desc = tmp_path / "NFLX_dataset_public.py"
    desc.write_text(
        f"__import__('pathlib').Path({str(marker)!r}).write_text('x')\n"
        "width = 1920\nheight = 1080\nyuv_fmt = 'yuv420p'\n"
        "ref_videos = [{'content_id': 0, 'content_name': 'A', 'path': '/p/A.yuv'}]\n"
        "dis_videos = [{'asset_id': 3, 'content_id': 0, 'dmos': 50.0, 'path': '/p/d.yuv'}]\n"
    )
    values = parse_descriptor(desc)
    assert not marker.exists()
    assert values["width"] == 1920 and values["yuv_fmt"] == "yuv420p"
    assert values["ref_videos"][0]["content_name"] == "A" and values["dis_videos"][0]["dmos"] == 50.0
    desc.write_text("width = __import__('os').getpid()\n")
    with pytest.raises(FilteroptError, match="not a plain value"):
        parse_descriptor(desc)
    assert not marker.exists()


def test_netflix_resolves_names_and_reads_lazily(nflx_root):
    root, clips = nflx_root
    # the 'B' entry is an expression (not a literal) -> clear error; fix the descriptor to plain paths
    with pytest.raises(FilteroptError):
        load_netflix(root)
    desc = root / "NFLX_dataset_public.py"
    desc.write_text(desc.read_text().replace("ref_dir + '/B_25fps.yuv'", "'/q/B_25fps.yuv'"))
    cs = load_netflix(root)
    assert [c.name for c in cs.clips] == ["A_25fps.yuv", "B_25fps.yuv"]
    b = cs.clips[1]
    assert (b.width, b.height, b.count_frames(), b.bit_depth) == (32, 16, 6, 8)
    assert torch.equal(b.read(2, 3), clips["B_25fps.yuv"][2:5])
    assert cs.extras["dis_videos"][0]["path"] == root / "dis" / "A_90_32x16.yuv"
    # without a descriptor: the ref/ folder's .yuv files (default 1920x1080 would not fit: clear error)
    desc.unlink()
    with pytest.raises(FilteroptError, match="1920x1080"):
        load_netflix(root)


def test_netflix_missing_root_message(tmp_path, monkeypatch):
    monkeypatch.delenv(NETFLIX_ROOT_ENV, raising=False)
    for root in (None, tmp_path / "nope", tmp_path):
        with pytest.raises(FilteroptError) as err:
            load_dataset("netflix", data_root=root)
        msg = str(err.value)
        assert "NFLX" in msg and "--data-root" in msg and NETFLIX_ROOT_ENV in msg and "--dataset sample" in msg
    monkeypatch.setenv(NETFLIX_ROOT_ENV, str(tmp_path / "nope"))
    with pytest.raises(FilteroptError, match="does not exist"):
        load_dataset("netflix")


def test_folder_corrupt_clip_skipped_and_all_corrupt_error(tmp_path):
    write_y4m(tmp_path / "good.y4m", pan_clip("chelsea", 48, 32, 4))
    _write_yuv420p(tmp_path / "raw.yuv", pan_clip("rocket", 48, 32, 3))
    (tmp_path / "broken.mkv").write_bytes(b"\x1a\x45\xdf\xa3 not really a video" * 10)
    with pytest.warns(UserWarning, match="broken.mkv"):
        cs = load_dataset("folder", data_root=tmp_path, size="48x32", pix_fmt="yuv420p")
    assert sorted(c.name for c in cs.clips) == ["good.y4m", "raw.yuv"]
    assert cs.clips[0].count_frames() == 4 and cs.clips[0].read(0, 2).shape == (2, 1, 32, 48)

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.mp4").write_bytes(b"garbage" * 50)
    with pytest.warns(UserWarning, match="x.mp4"), pytest.raises(FilteroptError, match="no usable clip"):
        load_dataset("folder", data_root=bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    for root in (empty, tmp_path / "missing"):
        with pytest.raises(FilteroptError):
            load_dataset("folder", data_root=root)
    with pytest.raises(FilteroptError, match="unknown dataset"):
        load_dataset("nope")


@pytest.fixture(scope="module")
def sample_set():
    return load_dataset("sample")


def test_sample_batches_deterministic_with_motion(sample_set):
    train, held = split_clips(sample_set.clips)
    a = next(patch_batches(train, batch_size=6, frames=3, crop=48, seed=5))
    b = next(patch_batches(train, batch_size=6, frames=3, crop=48, seed=5))
    c = next(patch_batches(train, batch_size=6, frames=3, crop=48, seed=6))
    assert a.frames.shape == (6, 3, 1, 48, 48) and a.frames.dtype == torch.float32 and a.bit_depth == 8
    assert torch.equal(a.frames, b.frames) and not torch.equal(a.frames, c.frames)
    assert torch.equal(load_dataset("sample").clips[0].read(0, 12), sample_set.clips[0].read(0, 12))
    # consecutive frames differ in every crop: real motion
    assert ((a.frames[:, 1:] - a.frames[:, :-1]).abs().amax(dim=(2, 3, 4)) > 0).all()
    assert {"mandelbrot", "life"} <= {c.name for c in sample_set.clips}


def test_split_disjoint_and_nonempty(sample_set):
    train, held = split_clips(sample_set.clips, held_out_every=3)
    names_t, names_h = {c.name for c in train}, {c.name for c in held}
    assert names_t and names_h and not names_t & names_h
    assert names_t | names_h == {c.name for c in sample_set.clips}
    two = [tensor_clip(str(i), torch.zeros(3, 1, 8, 8), 8) for i in range(2)]
    assert [len(s) for s in split_clips(two, 5)] == [1, 1]
    batch = next(patch_batches(held, batch_size=4, frames=2, crop=(32, 40), seed=0))
    assert set(batch.clip_names) <= names_h and batch.frames.shape == (4, 2, 1, 32, 40)
