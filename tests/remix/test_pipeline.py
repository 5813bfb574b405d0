"""The diffusion pipeline, run for real: tiny random-weight models of the real diffusers classes, loaded with
from_pretrained from a folder exactly as a production model is."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from PIL import Image, ImageDraw

from remix.management.commands.remix_build_tiny_model import Command as BuildTinyModelCommand
from remix.pipeline import (
    ARCH_FLUX_KONTEXT,
    ARCH_INSTRUCT_PIX2PIX,
    EditInterrupted,
    ModelUnavailable,
    Optimizations,
    RemixPipeline,
    build_tiny_model,
    get_pipeline,
    reset_pipeline_cache,
    warm_pipeline,
)
from tests.remix.tiny_models import tiny_model

ARCHS = [ARCH_INSTRUCT_PIX2PIX, ARCH_FLUX_KONTEXT]
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=ARCHS)
def pipeline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RemixPipeline:
    return RemixPipeline.load(str(tiny_model(tmp_path_factory, request.param)))


@pytest.fixture
def ip2p_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory, ARCH_INSTRUCT_PIX2PIX)


@pytest.fixture
def _fresh_pipeline_cache() -> Iterator[None]:
    reset_pipeline_cache()
    yield
    reset_pipeline_cache()


def photo(width: int = 320, height: int = 180) -> Image.Image:
    """A non-square still with some structure (a gradient, a disc, a bar), so edits have something to keep."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width // 2, 3 * height // 4), fill=(200, 40, 40))
    draw.rectangle((0, height - height // 6, width, height), fill=(20, 60, 180))
    return image


# --- loading -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_load_reads_the_arch_from_the_folder_and_a_stable_revision(
    tmp_path_factory: pytest.TempPathFactory, arch: str
) -> None:
    folder = tiny_model(tmp_path_factory, arch)

    first = RemixPipeline.load(str(folder))
    second = RemixPipeline.load(str(folder), device="cpu")

    assert first.arch == second.arch == arch
    # Named by the id its metadata gives, never by its path on this server (shown to users, signed into manifests).
    assert first.model_id == f"remix-tiny-{arch}" and str(folder) not in first.model_id
    assert first.revision == second.revision
    assert len(first.revision) == 12 and int(first.revision, 16) >= 0
    assert (first.device, first.dtype_name) == ("cpu", "float32")
    assert first.resolution == 64
    assert (
        type(first.pipe).__name__
        == {
            ARCH_INSTRUCT_PIX2PIX: "StableDiffusionInstructPix2PixPipeline",
            ARCH_FLUX_KONTEXT: "FluxKontextPipeline",
        }[arch]
    )


def test_the_two_archs_have_different_revisions(tmp_path_factory: pytest.TempPathFactory) -> None:
    revisions = {RemixPipeline.load(str(tiny_model(tmp_path_factory, arch))).revision for arch in ARCHS}
    assert len(revisions) == 2


def test_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="does not exist") as caught:
        RemixPipeline.load(str(tmp_path / "nowhere"))
    assert "remix_build_tiny_model" in caught.value.detail


def test_folder_without_model_index_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"no model_index\.json"):
        RemixPipeline.load(str(tmp_path))


def test_empty_model_setting_is_unavailable() -> None:
    with pytest.raises(ModelUnavailable, match="REMIX_MODEL"):
        RemixPipeline.load("")


def copy_of(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "model"))


def test_garbage_model_index_is_unavailable(ip2p_dir: Path, tmp_path: Path) -> None:
    broken = copy_of(ip2p_dir, tmp_path)
    (broken / "model_index.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelUnavailable, match="not readable JSON"):
        RemixPipeline.load(str(broken))


def test_unknown_pipeline_class_is_unavailable(ip2p_dir: Path, tmp_path: Path) -> None:
    other = copy_of(ip2p_dir, tmp_path)
    index = json.loads((other / "model_index.json").read_text(encoding="utf-8"))
    index["_class_name"] = "StableDiffusionXLPipeline"
    (other / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    with pytest.raises(ModelUnavailable, match=r"StableDiffusionXLPipeline.*only"):
        RemixPipeline.load(str(other))


def test_truncated_weights_are_unavailable(ip2p_dir: Path, tmp_path: Path) -> None:
    broken = copy_of(ip2p_dir, tmp_path)
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        RemixPipeline.load(str(broken))


def test_unknown_hub_model_offline_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelUnavailable, match="not found in the local cache"):
        RemixPipeline.load("nobody/no-such-remix-model")


def test_a_hub_id_loads_offline_from_the_cache_at_its_commit(
    ip2p_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huggingface_hub import constants

    # The hub cache's layout: models--owner--name/{refs/main, snapshots/<commit>/...}.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--remix-test--tiny-ip2p"
    shutil.copytree(ip2p_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))

    pipeline = RemixPipeline.load("remix-test/tiny-ip2p")

    assert (pipeline.arch, pipeline.model_id, pipeline.revision) == (
        ARCH_INSTRUCT_PIX2PIX,
        "remix-test/tiny-ip2p",
        commit,
    )
    assert RemixPipeline.load("remix-test/tiny-ip2p", revision=commit).revision == commit
    with pytest.raises(ModelUnavailable, match="not found in the local cache"):
        RemixPipeline.load("remix-test/tiny-ip2p", revision="v2")


def test_cuda_asked_for_without_cuda_is_unavailable(ip2p_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelUnavailable, match="CUDA is not available"):
        RemixPipeline.load(str(ip2p_dir), device="cuda")


# --- fitting and editing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "ip2p_size", "kontext_size"),
    [
        ((320, 180), (64, 36), (64, 36)),  # 16:9
        ((180, 320), (36, 64), (36, 64)),  # 9:16
        ((64, 64), (64, 64), (64, 64)),
        ((1080, 1350), (52, 64), (52, 64)),  # 4:5: 51.2 rounds to the grid
        ((1000, 900), (64, 56), (64, 56)),  # 9:8
        ((960, 1000), (64, 64), (64, 64)),  # nearer 1:1 than 8:9
        ((1000, 10), (64, 36), (64, 36)),  # beyond 16:9: the widest bucket, never a sliver
        ((5, 3), (64, 38), (64, 40)),  # upscaled to 5:3, whose 38.4 rounds to each grid
    ],
)
def test_fit_snaps_to_the_bucket_of_the_nearest_aspect_on_the_models_grid(
    pipeline: RemixPipeline, size: tuple[int, int], ip2p_size: tuple[int, int], kontext_size: tuple[int, int]
) -> None:
    # Both tiny models work at 64 px; sides are multiples of 2 for IP2P (its VAE halves) and of 4 for Kontext
    # (VAE x2, then 2x2 patches), as 8 and 16 for the real models.
    expected = ip2p_size if pipeline.arch == ARCH_INSTRUCT_PIX2PIX else kontext_size
    assert pipeline.size_factor == (2 if pipeline.arch == ARCH_INSTRUCT_PIX2PIX else 4)

    fitted = pipeline.fit(Image.new("RGBA", size, (10, 20, 30, 128)))

    assert fitted.mode == "RGB"
    assert fitted.size == expected == pipeline.bucket_for(size)
    assert fitted.size in pipeline.buckets()
    assert pipeline.fit(fitted).size == fitted.size  # the worker fits, then edit fits again


def test_edit_returns_an_rgb_image_of_the_fitted_size_with_the_arch_defaults(pipeline: RemixPipeline) -> None:
    source = photo(320, 180)

    result = pipeline.edit(source, prompt="make it a watercolour", seed=7)

    assert result.image.mode == "RGB"
    assert result.image.size == pipeline.fit(source).size == (64, 36)
    assert result.steps == {ARCH_INSTRUCT_PIX2PIX: 20, ARCH_FLUX_KONTEXT: 28}[pipeline.arch]
    assert 0 < result.model_seconds < 30
    assert json.loads(json.dumps(result.params)) == result.params
    assert result.params["seed"] == 7
    assert (result.params["width"], result.params["height"]) == (64, 36)
    if pipeline.arch == ARCH_INSTRUCT_PIX2PIX:
        assert (result.params["guidance_scale"], result.params["image_guidance_scale"]) == (7.5, 1.5)
    else:
        assert result.params["guidance_scale"] == 2.5
        assert "image_guidance_scale" not in result.params


def test_the_same_seed_gives_the_same_pixels_and_another_seed_others(pipeline: RemixPipeline) -> None:
    source = photo(200, 300)

    def pixels(seed: int) -> bytes:
        return pipeline.edit(source, prompt="put her on the beach", seed=seed, steps=4).image.tobytes()

    first = pixels(1)
    assert pixels(1) == first
    assert pixels(2) != first


def test_explicit_parameters_are_passed_and_recorded(pipeline: RemixPipeline) -> None:
    result = pipeline.edit(photo(), prompt="a cat", seed=3, steps=3, guidance_scale=5.0, image_guidance_scale=1.2)

    assert result.steps == result.params["steps"] == 3
    assert result.params["guidance_scale"] == 5.0
    if pipeline.arch == ARCH_INSTRUCT_PIX2PIX:
        assert result.params["image_guidance_scale"] == 1.2


def test_progress_rises_to_one(pipeline: RemixPipeline) -> None:
    seen: list[float] = []

    def on_progress(fraction: float) -> bool:
        seen.append(fraction)
        return True

    pipeline.edit(photo(), prompt="a dog", seed=0, steps=5, on_progress=on_progress)

    assert len(seen) == 5
    assert seen == sorted(seen) and len(set(seen)) == 5
    assert seen[0] > 0 and seen[-1] == 1.0


def test_a_progress_callback_returning_false_stops_the_loop(pipeline: RemixPipeline) -> None:
    seen: list[float] = []

    def on_progress(fraction: float) -> bool:
        seen.append(fraction)
        return len(seen) < 2

    with pytest.raises(EditInterrupted):
        pipeline.edit(photo(), prompt="a dog", seed=0, steps=10, on_progress=on_progress)
    assert seen == [0.1, 0.2]

    # The pipeline is usable again afterwards (diffusers resets its interrupt flag per call).
    assert pipeline.edit(photo(), prompt="a dog", seed=0, steps=2).steps == 2


# --- the process-wide pipeline -------------------------------------------------------------------------------


@pytest.mark.usefixtures("_fresh_pipeline_cache")
def test_get_pipeline_loads_once_and_again_when_the_settings_change(
    settings: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings.REMIX_MODEL = str(tiny_model(tmp_path_factory, ARCH_INSTRUCT_PIX2PIX))
    settings.REMIX_MODEL_REVISION = ""
    settings.REMIX_DEVICE = None

    first = get_pipeline()
    assert get_pipeline() is first
    assert first.arch == ARCH_INSTRUCT_PIX2PIX

    settings.REMIX_MODEL = str(tiny_model(tmp_path_factory, ARCH_FLUX_KONTEXT))
    assert get_pipeline().arch == ARCH_FLUX_KONTEXT

    reset_pipeline_cache()
    assert get_pipeline() is not first


@pytest.mark.usefixtures("_fresh_pipeline_cache")
def test_get_pipeline_raises_model_unavailable_each_time(settings: Any, tmp_path: Path) -> None:
    settings.REMIX_MODEL = str(tmp_path / "missing")
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            get_pipeline()


# --- the tiny models and their command -------------------------------------------------------------------------


def file_digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_tiny_models_are_small_and_reproducible(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    for arch in ARCHS:
        folder = tiny_model(tmp_path_factory, arch)
        assert sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) < 20_000_000
        assert any(folder.rglob("*.safetensors")) and not any(folder.rglob("*.bin"))
    again = build_tiny_model(tmp_path / "again", arch=ARCH_FLUX_KONTEXT, seed=0)
    assert file_digests(again) == file_digests(tiny_model(tmp_path_factory, ARCH_FLUX_KONTEXT))
    other_seed = build_tiny_model(tmp_path / "other", arch=ARCH_FLUX_KONTEXT, seed=1)
    assert file_digests(other_seed) != file_digests(again)


def test_the_build_command_is_idempotent_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "tiny"

    call_command(BuildTinyModelCommand(), str(target), "--arch", ARCH_FLUX_KONTEXT)
    assert "Built a tiny flux-kontext model" in capsys.readouterr().out
    assert RemixPipeline.load(str(target)).arch == ARCH_FLUX_KONTEXT

    call_command(BuildTinyModelCommand(), str(target), "--arch", ARCH_INSTRUCT_PIX2PIX)
    assert "already holds a model" in capsys.readouterr().out
    assert RemixPipeline.load(str(target)).arch == ARCH_FLUX_KONTEXT

    call_command(BuildTinyModelCommand(), str(target), "--arch", ARCH_INSTRUCT_PIX2PIX, "--force", "--seed", "3")
    assert "Built a tiny instruct-pix2pix model" in capsys.readouterr().out
    assert RemixPipeline.load(str(target)).arch == ARCH_INSTRUCT_PIX2PIX
    assert not (target / "transformer").exists()


# --- the heavy imports stay in one room ------------------------------------------------------------------------


def test_importing_the_pipeline_module_loads_no_ml_library() -> None:
    code = (
        "import django, sys; django.setup(); import remix.pipeline, remix.management.commands.remix_build_tiny_model; "
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "socialapp.settings"}
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


# --- buckets ---------------------------------------------------------------------------------------------------


def grid(arch: str, resolution: int, size_factor: int) -> RemixPipeline:
    """A pipeline object for bucket arithmetic only (no model behind it): the real models' grids."""
    return RemixPipeline(
        pipe=None,
        arch=arch,
        model_id="grid",
        revision="grid",
        device="cpu",
        dtype_name="float32",
        resolution=resolution,
        size_factor=size_factor,
    )


REAL_GRIDS = [grid(ARCH_INSTRUCT_PIX2PIX, 512, 8), grid(ARCH_FLUX_KONTEXT, 1024, 16)]


def stretch(size: tuple[int, int], bucket: tuple[int, int]) -> float:
    """How much fitting ``size`` into ``bucket`` distorts its aspect ratio (0.05 = 5%)."""
    return math.exp(abs(math.log((bucket[0] / bucket[1]) / (size[0] / size[1])))) - 1


def test_buckets_are_a_few_sizes_on_the_grid_in_both_orientations(pipeline: RemixPipeline) -> None:
    buckets = pipeline.buckets()

    assert buckets[0] == (pipeline.resolution, pipeline.resolution)
    assert len(buckets) == len(set(buckets)) == 13
    for width, height in buckets:
        assert max(width, height) == pipeline.resolution
        assert width % pipeline.size_factor == 0 and height % pipeline.size_factor == 0
        assert (height, width) in buckets


@pytest.mark.parametrize("real", REAL_GRIDS, ids=lambda p: f"{p.arch}-{p.resolution}")
def test_real_buckets_keep_the_common_formats_and_stretch_others_by_a_few_percent(real: RemixPipeline) -> None:
    assert (real.resolution, real.resolution * 9 // 16) in real.buckets()  # 16:9 exactly (512x288, 1024x576)
    for aspect in [(1, 1), (4, 5), (3, 4), (2, 3), (9, 16), (16, 9), (3, 2), (4, 3), (5, 4)]:
        assert stretch(aspect, real.bucket_for((aspect[0] * 120, aspect[1] * 120))) < 0.01
    # Every aspect between 9:16 and 16:9: at most ~6% (the comment on BUCKET_ASPECTS), nearest bucket chosen.
    for step in range(201):
        aspect = math.exp(math.log(9 / 16) + step / 200 * math.log(256 / 81))
        size = (round(4000 * aspect), 4000)
        chosen = real.bucket_for(size)
        assert stretch(size, chosen) < 0.065
        assert all(stretch(size, chosen) <= stretch(size, other) + 1e-12 for other in real.buckets())


def test_every_fit_lands_on_a_bucket(pipeline: RemixPipeline) -> None:
    sides = [1, 17, 64, 333, 720, 1080, 1921]
    for width in sides:
        for height in sides:
            assert pipeline.bucket_for((width, height)) in pipeline.buckets()
    for size in [(1, 1), (17, 1921), (1921, 17), (333, 720)]:
        assert pipeline.fit(Image.new("RGB", size)).size == pipeline.bucket_for(size)


def test_fit_honours_exif_orientation_before_choosing_the_bucket(pipeline: RemixPipeline) -> None:
    # A phone photo stored landscape with "rotate 90" in its EXIF is a portrait photo.
    stored = Image.new("RGB", (320, 180))
    exif = stored.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif.tobytes())
    buffer.seek(0)
    assert pipeline.fit(Image.open(buffer)).size == (36, 64)


def test_bucket_for_rejects_an_empty_size(pipeline: RemixPipeline) -> None:
    with pytest.raises(ValueError, match="no aspect ratio"):
        pipeline.bucket_for((0, 10))


# --- batched edits ---------------------------------------------------------------------------------------------


def pixel_gap(a: Image.Image, b: Image.Image) -> tuple[int, float]:
    """The largest difference of any channel of any pixel (0-255), and the share of values that differ at all."""
    import numpy as np

    diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16))
    return int(diff.max()), float((diff > 0).mean())


BATCH_SOURCES = [
    photo(320, 180),
    photo(1280, 720).rotate(180),
    photo(160, 90).transpose(Image.Transpose.FLIP_LEFT_RIGHT),
]
BATCH_PROMPTS = ["make it a watercolour", "put her on the beach", "a cat"]
BATCH_SEEDS = [11, 22, 33]


def test_each_batched_item_is_its_own_single_edit(pipeline: RemixPipeline) -> None:
    results = pipeline.edit_batch(BATCH_SOURCES, prompts=BATCH_PROMPTS, seeds=BATCH_SEEDS, steps=3)

    assert len(results) == 3
    singles = [
        pipeline.edit(source, prompt=prompt, seed=seed, steps=3)
        for source, prompt, seed in zip(BATCH_SOURCES, BATCH_PROMPTS, BATCH_SEEDS, strict=True)
    ]
    for result, single, seed in zip(results, singles, BATCH_SEEDS, strict=True):
        assert result is not None
        assert (result.image.size, result.batch_size, result.steps) == ((64, 36), 3, 3)
        assert result.params == {**single.params, "seed": seed}
        # The same random draws (one generator per item); only the summation order of batched CPU kernels
        # differs (~1e-6), which now and then rounds a pixel to the neighbouring 8-bit value.
        largest, share = pixel_gap(result.image, single.image)
        assert largest <= 1 and share < 0.02
    assert len({result.model_seconds for result in results if result is not None}) == 1
    # Items really are different edits: another seed, prompt and source move pixels by far more than one level.
    assert pixel_gap(singles[0].image, singles[1].image)[0] > 10


def test_a_batch_item_told_to_stop_is_dropped_and_the_others_are_untouched(pipeline: RemixPipeline) -> None:
    full = pipeline.edit_batch(BATCH_SOURCES, prompts=BATCH_PROMPTS, seeds=BATCH_SEEDS, steps=4)
    seen: list[float] = []

    def on_progress(fraction: float) -> list[bool]:
        seen.append(fraction)
        # The middle job is cancelled after the first step; answering True later does not bring it back.
        return [True, len(seen) != 2, True]

    results = pipeline.edit_batch(
        BATCH_SOURCES, prompts=BATCH_PROMPTS, seeds=BATCH_SEEDS, steps=4, on_progress=on_progress
    )

    assert seen == [0.25, 0.5, 0.75, 1.0]
    assert results[1] is None
    for index in (0, 2):
        kept, reference = results[index], full[index]
        assert kept is not None and reference is not None
        assert kept.image.tobytes() == reference.image.tobytes()


@pytest.mark.parametrize("answer", [False, [False, False, False]], ids=["one bool", "one per item"])
def test_stopping_every_item_stops_the_batch(pipeline: RemixPipeline, answer: bool | list[bool]) -> None:
    seen: list[float] = []

    def on_progress(fraction: float) -> bool | list[bool]:
        seen.append(fraction)
        return answer if len(seen) == 2 else True

    with pytest.raises(EditInterrupted):
        pipeline.edit_batch(BATCH_SOURCES, prompts=BATCH_PROMPTS, seeds=BATCH_SEEDS, steps=10, on_progress=on_progress)
    assert seen == [0.1, 0.2]


def test_items_stopped_one_by_one_stop_the_batch_when_none_is_left(pipeline: RemixPipeline) -> None:
    seen: list[float] = []

    def on_progress(fraction: float) -> list[bool]:
        seen.append(fraction)
        return [len(seen) < 2, len(seen) < 3, len(seen) < 4]

    with pytest.raises(EditInterrupted):
        pipeline.edit_batch(BATCH_SOURCES, prompts=BATCH_PROMPTS, seeds=BATCH_SEEDS, steps=10, on_progress=on_progress)
    assert len(seen) == 4


def test_a_batch_must_share_one_bucket_and_match_its_prompts_and_seeds(pipeline: RemixPipeline) -> None:
    with pytest.raises(ValueError, match="one bucket"):
        pipeline.edit_batch([photo(320, 180), photo(180, 320)], prompts=["a", "b"], seeds=[1, 2], steps=1)
    with pytest.raises(ValueError, match="2 images, 1 prompts and 2 seeds"):
        pipeline.edit_batch([photo(), photo()], prompts=["a"], seeds=[1, 2], steps=1)
    with pytest.raises(ValueError, match="at least one"):
        pipeline.edit_batch([], prompts=[], seeds=[], steps=1)
    with pytest.raises(ValueError, match="answered 1 items for a batch of 2"):
        pipeline.edit_batch([photo(), photo()], prompts=["a", "b"], seeds=[1, 2], steps=2, on_progress=lambda f: [True])


def test_a_compiled_pipeline_pads_a_batch_to_a_warm_size_and_drops_the_padding(
    pipeline: RemixPipeline, caplog: pytest.LogCaptureFixture
) -> None:
    # The padding rule alone (no compiling on CPU in tests): the same model, flagged as compiled.
    padded = dataclasses.replace(
        pipeline, optimizations=Optimizations(compile=True), warm_batch_sizes=(1, 4), _warmed=set()
    )
    assert [padded.padded_batch_size(n) for n in (1, 2, 3, 4, 5)] == [1, 4, 4, 4, 5]
    assert [pipeline.padded_batch_size(n) for n in (1, 3, 5)] == [1, 3, 5]

    with caplog.at_level(logging.WARNING, logger="remix.pipeline"):
        results = padded.edit_batch(BATCH_SOURCES[:2], prompts=BATCH_PROMPTS[:2], seeds=BATCH_SEEDS[:2], steps=2)
    assert "compiling for 64×36 at batch 4 mid-traffic" in caplog.text  # nobody warmed this shape up

    assert len(results) == 2
    for result, source, prompt, seed in zip(results, BATCH_SOURCES, BATCH_PROMPTS, BATCH_SEEDS, strict=False):
        assert result is not None and result.batch_size == 4
        assert pixel_gap(result.image, pipeline.edit(source, prompt=prompt, seed=seed, steps=2).image)[0] <= 1

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="remix.pipeline"):
        assert padded.warm_up(batch_sizes=[1, 3], buckets=[(36, 64)])["shapes"] == 2  # 3 is padded to 4
        portraits = [source.transpose(Image.Transpose.ROTATE_90) for source in BATCH_SOURCES]
        assert padded.edit_batch(portraits, prompts=BATCH_PROMPTS, seeds=BATCH_SEEDS, steps=1)[0] is not None
    assert "mid-traffic" not in caplog.text


# --- optimisations and warm-up -------------------------------------------------------------------------------


def test_optimisations_default_to_nothing_on_cpu_and_everything_but_compile_on_cuda(ip2p_dir: Path) -> None:
    assert Optimizations.for_device("cpu", compile=True) == Optimizations.none()
    assert Optimizations.for_device("cuda") == Optimizations(compile=False)
    assert Optimizations.for_device("cuda:0", compile=True).compile
    assert Optimizations.none().as_dict() == {
        "backend_flags": False,
        "channels_last": False,
        "fused_qkv": False,
        "compile": False,
    }
    assert RemixPipeline.load(str(ip2p_dir)).optimizations == Optimizations.none()


@pytest.mark.parametrize("arch", ARCHS)
def test_fused_qkv_and_channels_last_change_the_model_not_the_edit(
    tmp_path_factory: pytest.TempPathFactory, arch: str
) -> None:
    import torch

    folder = str(tiny_model(tmp_path_factory, arch))
    plain = RemixPipeline.load(folder)
    tuned = RemixPipeline.load(folder, optimizations=Optimizations(backend_flags=False))

    denoiser = tuned.pipe.unet if arch == ARCH_INSTRUCT_PIX2PIX else tuned.pipe.transformer
    fused = [m for m in denoiser.modules() if getattr(m, "fused_projections", False)]
    assert fused, "no attention of the denoiser was fused"
    if arch == ARCH_INSTRUCT_PIX2PIX:
        weight = next(m.weight for m in tuned.pipe.unet.modules() if isinstance(m, torch.nn.Conv2d))
        assert weight.is_contiguous(memory_format=torch.channels_last)
    source = photo(200, 300)
    largest, share = pixel_gap(
        plain.edit(source, prompt="a cat", seed=5, steps=3).image,
        tuned.edit(source, prompt="a cat", seed=5, steps=3).image,
    )
    assert largest <= 1 and share < 0.02


def test_warm_up_runs_each_bucket_and_batch_size_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    warmed = RemixPipeline.load(str(tiny_model(tmp_path_factory, ARCH_INSTRUCT_PIX2PIX)))

    report = warmed.warm_up()  # on CPU: the first call only

    assert (report["shapes"], report["compiled"]) == (1, False) and report["seconds"] > 0
    assert warmed.warm_up()["shapes"] == 0  # nothing left to warm
    assert warmed.warm_up(buckets=warmed.buckets())["shapes"] == len(warmed.buckets()) - 1
    assert warmed.warm_up(batch_sizes=[1, 2], buckets=[(64, 36)])["shapes"] == 1


@pytest.mark.usefixtures("_fresh_pipeline_cache")
def test_get_pipeline_takes_compile_and_warm_sizes_from_settings(
    settings: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings.REMIX_MODEL = str(tiny_model(tmp_path_factory, ARCH_INSTRUCT_PIX2PIX))
    settings.REMIX_MODEL_REVISION = ""
    settings.REMIX_DEVICE = "cpu"
    settings.REMIX_COMPILE = False
    settings.REMIX_WARM_BATCH_SIZES = [4, 1, 2]

    first = get_pipeline()
    assert first.warm_batch_sizes == (1, 2, 4)
    assert first.optimizations == Optimizations.none()

    settings.REMIX_COMPILE = True  # a changed setting loads again; on CPU compile stays off
    second = get_pipeline()
    assert second is not first and not second.optimizations.compile

    report = warm_pipeline()
    assert get_pipeline() is second and report["shapes"] == 1


# --- bench/gpu.py ------------------------------------------------------------------------------------------------

GPU_ROW_KEYS = {"batch", "latency_s", "images_per_s", "fraction_of_limit", "options"}


def run_gpu_bench(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, Any]:
    out = tmp_path / "gpu.json"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "gpu.py"), "--out", str(out), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout, json.loads(out.read_text(encoding="utf-8"))


def test_gpu_bench_without_cuda_writes_null(tmp_path: Path) -> None:
    stdout, written = run_gpu_bench(tmp_path, env={"CUDA_VISIBLE_DEVICES": ""})

    assert "gpu: no CUDA device — section skipped" in stdout
    assert written == {"gpu": None}


def test_gpu_bench_cpu_smoke_runs_the_real_code_path_and_says_it_is_a_smoke_run(tmp_path: Path) -> None:
    stdout, written = run_gpu_bench(tmp_path, "--cpu-smoke", "--quick", env={"CUDA_VISIBLE_DEVICES": ""})

    section = written["gpu"]
    assert section["smoke"] is True and "smoke" in section["device"]
    assert "nominal" in section["peak_source"]
    ip2p, flux = section["instruct_pix2pix_512"], section["flux_kontext"]
    assert [(row["variant"], row["batch"]) for row in ip2p] == [
        ("baseline", 1),
        ("baseline", 2),
        ("+fused_qkv", 1),
        ("+fused_qkv", 2),
    ]
    assert [(row["variant"], row["batch"]) for row in flux] == [("baseline", 1), ("+fused_qkv", 1)]
    assert section["flux_kontext_skipped"] is None
    for row in ip2p + flux:
        assert set(row) >= GPU_ROW_KEYS
        assert row["latency_s"] > 0 and row["images_per_s"] == pytest.approx(row["batch"] / row["latency_s"], 0.01)
        assert row["flops_per_image"] > 0 and row["fraction_of_limit"] > 0
        assert row["options"]["dtype"] == "float32" and row["options"]["compile"] is False
    assert ip2p[0]["options"]["fused_qkv"] is False and ip2p[2]["options"]["fused_qkv"] is True
    assert section["summary"]["single_edit_latency_s"] > 0
    assert "instruct-pix2pix 64², 2 steps — baseline" in stdout
