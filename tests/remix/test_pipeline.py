"""The diffusion pipeline, run for real: tiny random-weight models of the real diffusers classes, loaded with
from_pretrained from a folder exactly as a production model is."""

from __future__ import annotations

import hashlib
import json
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
    RemixPipeline,
    build_tiny_model,
    get_pipeline,
    reset_pipeline_cache,
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
    assert first.model_id == str(folder)
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
        ((320, 180), (64, 36), (64, 36)),
        ((180, 320), (36, 64), (36, 64)),
        ((64, 64), (64, 64), (64, 64)),
        ((1000, 10), (64, 2), (64, 4)),  # never below one factor
        ((5, 3), (64, 38), (64, 40)),  # upscaled; 38.4 rounds to the grid
    ],
)
def test_fit_keeps_the_aspect_ratio_on_the_models_grid(
    pipeline: RemixPipeline, size: tuple[int, int], ip2p_size: tuple[int, int], kontext_size: tuple[int, int]
) -> None:
    # Both tiny models work at 64 px; sides are multiples of 2 for IP2P (its VAE halves) and of 4 for Kontext
    # (VAE x2, then 2x2 patches), as 8 and 16 for the real models.
    expected = ip2p_size if pipeline.arch == ARCH_INSTRUCT_PIX2PIX else kontext_size
    assert pipeline.size_factor == (2 if pipeline.arch == ARCH_INSTRUCT_PIX2PIX else 4)

    fitted = pipeline.fit(Image.new("RGBA", size, (10, 20, 30, 128)))

    assert fitted.mode == "RGB"
    assert fitted.size == expected
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
