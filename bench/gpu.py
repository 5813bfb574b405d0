"""GPU edit throughput of the project's own pipeline runner, as a fraction of the FLOP limit.

    python bench/gpu.py [--out var/bench/gpu.json] [--quick] [--only ip2p|flux] [--peak-tflops 989]
    python bench/gpu.py --cpu-smoke [--quick]      # the same code path on tiny configs, on CPU, in seconds

What it measures, when CUDA is present: the real architectures at full size with random weights (the compute is
the model's; the pictures are noise):

- InstructPix2Pix at 512²: SD1.5's UNet (8 input channels), VAE and CLIP ViT-L/14 text encoder, built from their
  configs, saved with ``save_pretrained`` and loaded through ``remix.pipeline.RemixPipeline.load`` like any model;
  then ``edit_batch`` at batch 1, 2, 4, 8.
- FLUX.1 Kontext at 512² and 1024²: the full transformer (12B), T5-XXL and CLIP-L encoders and the 16-channel
  VAE, built in bf16 on the GPU (~36 GB) and wrapped with ``RemixPipeline.from_diffusers`` (saving and reading
  back 36 GB of random weights would only measure the disk), if the GPU has the memory.

Each is run with optimisations added one at a time (baseline = bf16 diffusers defaults with SDPA; then
+backend_flags (TF32, cuDNN autotuning), +channels_last, +fused_qkv, +compile), so the gain of each shows. FLOPs
are counted with ``torch.utils.flop_counter.FlopCounterMode`` over one whole edit per batch size (on the device,
uncompiled); the limit is flops ÷ the GPU's dense bf16 peak, and ``fraction_of_limit`` = achieved images/s ÷
(peak ÷ flops per image). Latencies are medians of synchronised wall times after warm-up.

Without CUDA the section is ``null`` (and says so). ``--cpu-smoke`` runs the same code on tiny configs on CPU:
its numbers check the script, they measure nothing. Needs torch, diffusers, transformers and Pillow; not Django.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from remix.pipeline import (  # noqa: E402
    ARCH_FLUX_KONTEXT,
    ARCH_INSTRUCT_PIX2PIX,
    DEFAULT_STEPS,
    Optimizations,
    RemixPipeline,
    _quiet_progress_bars,
    _tiny_clip_tokenizer,
    _tiny_t5_tokenizer,
)

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from NVIDIA's data sheets, matched in order against
# torch.cuda.get_device_name(). H100 SXM reports itself as "NVIDIA H100 80GB HBM3"; GH200 is an H100-class die.
PEAKS_BF16 = (
    ("H200", 989.0, "H200 / GH200"),
    ("H100 PCIe", 756.0, "H100 PCIe"),
    ("H100 NVL", 835.0, "H100 NVL"),
    ("H100", 989.0, "H100 SXM"),
    ("A100", 312.0, "A100"),
    ("L40S", 362.0, "L40S"),
)
SMOKE_PEAK_TFLOPS = 1.0  # a nominal figure, so the smoke run exercises the arithmetic; it means nothing

BATCHES = (1, 2, 4, 8)
FLUX_RESOLUTIONS = (512, 1024)
FLUX_MIN_GPU_GIB = 48  # 12B transformer + 4.7B T5-XXL in bf16 is ~36 GB, plus activations at 1024²
FLUX_MAX_SEQUENCE_LENGTH = {True: 512, False: 32}  # T5 prompt tokens: Kontext's default; the tiny model's
PROMPTS = ("make it a watercolour", "put her on the beach", "turn it into a pencil sketch", "add snow")


@dataclass(frozen=True)
class Variant:
    name: str
    options: Optimizations


def variants(*, compile_mode: str) -> list[Variant]:
    """Cumulative: each adds one optimisation to the previous, so each row's gain over the one before is its own."""
    none = Optimizations.none()
    steps = [
        Variant("baseline", none),
        Variant("+backend_flags", replace(none, backend_flags=True)),
        Variant("+channels_last", replace(none, backend_flags=True, channels_last=True)),
        Variant("+fused_qkv", replace(none, backend_flags=True, channels_last=True, fused_qkv=True)),
    ]
    steps.append(Variant("+compile", replace(steps[-1].options, compile=True, compile_mode=compile_mode)))
    return steps


# --- configs: the real architectures, and tiny ones for --cpu-smoke ---------------------------------------------


def ip2p_configs(*, full: bool) -> dict[str, dict[str, Any]]:
    if full:  # runwayml/stable-diffusion-v1-5 (unet in_channels 8 as timbrooks/instruct-pix2pix), CLIP ViT-L/14
        return {
            "unet": {
                "sample_size": 64,
                "in_channels": 8,
                "out_channels": 4,
                "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
                "block_out_channels": [320, 640, 1280, 1280],
                "layers_per_block": 2,
                "cross_attention_dim": 768,
                "attention_head_dim": 8,
                "norm_num_groups": 32,
                "flip_sin_to_cos": True,
                "freq_shift": 0,
            },
            "vae": {
                "in_channels": 3,
                "out_channels": 3,
                "down_block_types": ["DownEncoderBlock2D"] * 4,
                "up_block_types": ["UpDecoderBlock2D"] * 4,
                "block_out_channels": [128, 256, 512, 512],
                "layers_per_block": 2,
                "latent_channels": 4,
                "norm_num_groups": 32,
                "sample_size": 512,
                "scaling_factor": 0.18215,
            },
            "text": {
                "hidden_size": 768,
                "intermediate_size": 3072,
                "num_attention_heads": 12,
                "num_hidden_layers": 12,
                "projection_dim": 768,
                "hidden_act": "quick_gelu",
                "vocab_size": 49408,
                "max_position_embeddings": 77,
            },
        }
    return {  # as remix.pipeline's tiny model
        "unet": {
            "sample_size": 32,
            "in_channels": 8,
            "out_channels": 4,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
            "block_out_channels": [32, 64],
            "layers_per_block": 2,
            "cross_attention_dim": 32,
        },
        "vae": {
            "in_channels": 3,
            "out_channels": 3,
            "down_block_types": ["DownEncoderBlock2D"] * 2,
            "up_block_types": ["UpDecoderBlock2D"] * 2,
            "block_out_channels": [32, 64],
            "latent_channels": 4,
            "sample_size": 64,
        },
        "text": {
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "projection_dim": 32,
            "hidden_act": "gelu",
            "vocab_size": 1000,
            "max_position_embeddings": 77,
        },
    }


def flux_configs(*, full: bool) -> dict[str, dict[str, Any]]:
    if full:  # black-forest-labs/FLUX.1-Kontext-dev: transformer, ae, CLIP-L, T5-XXL (t5-v1_1-xxl encoder)
        return {
            "transformer": {
                "patch_size": 1,
                "in_channels": 64,
                "num_layers": 19,
                "num_single_layers": 38,
                "attention_head_dim": 128,
                "num_attention_heads": 24,
                "joint_attention_dim": 4096,
                "pooled_projection_dim": 768,
                "guidance_embeds": True,
                "axes_dims_rope": [16, 56, 56],
            },
            "vae": {
                "in_channels": 3,
                "out_channels": 3,
                "down_block_types": ["DownEncoderBlock2D"] * 4,
                "up_block_types": ["UpDecoderBlock2D"] * 4,
                "block_out_channels": [128, 256, 512, 512],
                "layers_per_block": 2,
                "latent_channels": 16,
                "norm_num_groups": 32,
                "sample_size": 1024,
                "scaling_factor": 0.3611,
                "shift_factor": 0.1159,
                "use_quant_conv": False,
                "use_post_quant_conv": False,
            },
            "text": ip2p_configs(full=True)["text"],
            "t5": {
                "vocab_size": 32128,
                "d_model": 4096,
                "d_kv": 64,
                "d_ff": 10240,
                "num_layers": 24,
                "num_heads": 64,
                "relative_attention_num_buckets": 32,
                "relative_attention_max_distance": 128,
                "feed_forward_proj": "gated-gelu",
                "layer_norm_epsilon": 1e-6,
            },
        }
    return {  # as remix.pipeline's tiny model
        "transformer": {
            "patch_size": 1,
            "in_channels": 16,
            "num_layers": 1,
            "num_single_layers": 1,
            "attention_head_dim": 16,
            "num_attention_heads": 2,
            "joint_attention_dim": 32,
            "pooled_projection_dim": 32,
            "guidance_embeds": True,
            "axes_dims_rope": [4, 4, 8],
        },
        "vae": {
            "in_channels": 3,
            "out_channels": 3,
            "down_block_types": ["DownEncoderBlock2D"] * 2,
            "up_block_types": ["UpDecoderBlock2D"] * 2,
            "block_out_channels": [16, 32],
            "layers_per_block": 1,
            "latent_channels": 4,
            "norm_num_groups": 8,
            "sample_size": 64,
            "shift_factor": 0.0609,
            "scaling_factor": 1.5035,
            "use_quant_conv": False,
            "use_post_quant_conv": False,
        },
        "text": ip2p_configs(full=False)["text"],
        "t5": {
            "vocab_size": 1000,
            "d_model": 32,
            "d_kv": 8,
            "d_ff": 37,
            "num_layers": 2,
            "num_heads": 4,
            "relative_attention_num_buckets": 8,
        },
    }


@contextlib.contextmanager
def building_on(device: str, dtype: Any) -> Iterator[None]:
    """Create modules directly on ``device`` in ``dtype``: 12B parameters never exist in float32 on the host."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def clip_text_model(config: dict[str, Any], tokenizer: Any) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            **config,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()


def build_ip2p(configs: dict[str, dict[str, Any]], target: Path) -> Path:
    """An InstructPix2Pix pipeline of random weights, saved (safetensors) into ``target`` for RemixPipeline.load."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionInstructPix2PixPipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(0)
    tokenizer = _tiny_clip_tokenizer()  # byte-level BPE built locally: 77 real token ids, which is all compute needs
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=AutoencoderKL(**configs["vae"]),
        text_encoder=clip_text_model(configs["text"], tokenizer),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**configs["unet"]),
        # What timbrooks/instruct-pix2pix ships with.
        scheduler=EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    _quiet_progress_bars()
    pipe.save_pretrained(target, safe_serialization=True)
    return target


def build_flux(configs: dict[str, dict[str, Any]], *, device: str, dtype: Any) -> Any:
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    tokenizer = _tiny_clip_tokenizer()
    tokenizer_2 = _tiny_t5_tokenizer()  # Unigram built locally; pads every prompt to max_sequence_length tokens
    with building_on(device, dtype):
        transformer = FluxTransformer2DModel(**configs["transformer"]).eval()
        text_encoder_2 = T5EncoderModel(
            T5Config(**configs["t5"], pad_token_id=tokenizer_2.pad_token_id, eos_token_id=tokenizer_2.eos_token_id)
        ).eval()
        text_encoder = clip_text_model(configs["text"], tokenizer)
        vae = AutoencoderKL(**configs["vae"]).eval()
    return FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15, use_dynamic_shifting=True
        ),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
        image_encoder=None,
        feature_extractor=None,
    )


# --- measuring -------------------------------------------------------------------------------------------------


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def source_images(side: int, count: int) -> list[Image.Image]:
    """Stills with some structure (a gradient, a disc), one per batch item."""
    from PIL import ImageDraw

    images = []
    for index in range(count):
        image = Image.linear_gradient("L").rotate(index * 40).resize((side, side)).convert("RGB")
        ImageDraw.Draw(image).ellipse((side // 4, side // 4, side // 2, 3 * side // 4), fill=(200, 40 + index, 40))
        images.append(image)
    return images


def run_edit(pipeline: RemixPipeline, batch: int, *, steps: int) -> Callable[[], Any]:
    images = source_images(pipeline.resolution, batch)
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]

    def run() -> Any:
        return pipeline.edit_batch(images, prompts=prompts, seeds=list(range(batch)), steps=steps)

    return run


def count_flops(fn: Callable[[], Any]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def median_seconds(fn: Callable[[], Any], *, device: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        synchronize(device)
        started = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def row(
    *,
    variant: str,
    options: Optimizations,
    dtype: str,
    batch: int,
    resolution: int,
    steps: int,
    latency: float,
    flops_per_image: int | None,
    peak_tflops: float | None,
    runs: int,
) -> dict[str, Any]:
    images_per_s = batch / latency
    fraction = None
    if flops_per_image and peak_tflops:
        fraction = images_per_s * flops_per_image / (peak_tflops * 1e12)
    return {
        "variant": variant,
        "batch": batch,
        "latency_s": round(latency, 4),
        "images_per_s": round(images_per_s, 3),
        "fraction_of_limit": None if fraction is None else round(fraction, 4),
        "options": {"dtype": dtype, "attention": "sdpa", **options.as_dict()},
        "resolution": resolution,
        "steps": steps,
        "flops_per_image": flops_per_image,
        "limit_s_per_image": None if not (flops_per_image and peak_tflops) else flops_per_image / (peak_tflops * 1e12),
        "runs": runs,
    }


def release(device: str) -> None:
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def measure_variant(
    pipeline: RemixPipeline,
    variant: Variant,
    *,
    batches: Sequence[int],
    steps: int,
    runs: int,
    flops: dict[int, int],
    peak_tflops: float | None,
) -> list[dict[str, Any]]:
    """Warm every batch size (compiling, if asked), count FLOPs where not yet counted, then time ``runs`` edits."""
    side = pipeline.resolution
    pipeline.warm_up(buckets=[(side, side)], batch_sizes=batches)
    rows = []
    for batch in batches:
        edit = run_edit(pipeline, batch, steps=steps)
        if batch not in flops and not variant.options.compile:
            flops[batch] = count_flops(edit)  # one whole edit, on the device; doubles as a full-length warm run
        else:
            edit()
        latency = median_seconds(edit, device=pipeline.device, runs=runs)
        per_image = flops[batch] // batch if batch in flops else None
        rows.append(
            row(
                variant=variant.name,
                options=pipeline.optimizations,
                dtype=pipeline.dtype_name,
                batch=batch,
                resolution=side,
                steps=steps,
                latency=latency,
                flops_per_image=per_image,
                peak_tflops=peak_tflops,
                runs=runs,
            )
        )
        print_row(rows[-1])
    return rows


def bench_ip2p(
    *, device: str, full: bool, chosen: list[Variant], batches: Sequence[int], steps: int, runs: int, peak: float | None
) -> list[dict[str, Any]]:
    import torch

    rows: list[dict[str, Any]] = []
    flops: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="remix-gpu-bench-") as scratch:
        folder = build_ip2p(ip2p_configs(full=full), Path(scratch) / "instruct-pix2pix")
        for variant in chosen:
            if variant.options.compile:
                torch._dynamo.reset()
            pipeline = RemixPipeline.load(
                str(folder), device=device, optimizations=variant.options, warm_batch_sizes=batches
            )
            print(f"\ninstruct-pix2pix {pipeline.resolution}², {steps} steps — {variant.name}")
            rows += measure_variant(
                pipeline, variant, batches=batches, steps=steps, runs=runs, flops=flops, peak_tflops=peak
            )
            del pipeline
            release(device)
    return rows


def bench_flux(
    *,
    device: str,
    full: bool,
    chosen: list[Variant],
    resolutions: Sequence[int],
    batches: Sequence[int],
    steps: int,
    runs: int,
    peak: float | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Rows, and why the section was cut short (None if it was not)."""
    import torch

    if full:
        total_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
        if total_gib < FLUX_MIN_GPU_GIB:
            return [], f"the GPU has {total_gib:.0f} GiB; FLUX.1 Kontext in bf16 needs about {FLUX_MIN_GPU_GIB} GiB"
    configs = flux_configs(full=full)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    rows: list[dict[str, Any]] = []
    try:
        pipe = build_flux(configs, device=device, dtype=dtype)
        flops: dict[tuple[int, int], dict[int, int]] = {}
        # Optimisations are applied to the one in-memory pipeline in place and cannot be taken back, so variants
        # run in order and each row records the options actually in force (the union so far).
        applied = Optimizations.none()
        for variant in chosen:
            applied = Optimizations(
                backend_flags=applied.backend_flags or variant.options.backend_flags,
                channels_last=applied.channels_last or variant.options.channels_last,
                fused_qkv=applied.fused_qkv or variant.options.fused_qkv,
                compile=applied.compile or variant.options.compile,
                compile_mode=variant.options.compile_mode,
            )
            for resolution in resolutions:
                pipeline = RemixPipeline.from_diffusers(
                    pipe,
                    model_id="flux-kontext (random weights, full size)" if full else "flux-kontext (tiny)",
                    device=device,
                    optimizations=applied,
                    warm_batch_sizes=batches,
                    resolution=resolution,
                    max_sequence_length=FLUX_MAX_SEQUENCE_LENGTH[full],
                )
                print(f"\nflux-kontext {pipeline.resolution}², {steps} steps — {variant.name}")
                rows += measure_variant(
                    pipeline,
                    Variant(variant.name, applied),
                    batches=batches,
                    steps=steps,
                    runs=runs,
                    flops=flops.setdefault((resolution, resolution), {}),
                    peak_tflops=peak,
                )
    except torch.cuda.OutOfMemoryError as exc:
        return rows, f"out of GPU memory: {' '.join(str(exc).split())[:200]}"
    finally:
        release(device)
    return rows, None


def print_row(item: dict[str, Any]) -> None:
    fraction = item["fraction_of_limit"]
    shown = "    n/a" if fraction is None else f"{fraction * 100:6.1f}%"
    flops = item["flops_per_image"]
    tflops = "      n/a" if not flops else f"{flops / 1e12:9.3f}"
    print(
        f"  {item['variant']:16} batch {item['batch']:>2}  latency {item['latency_s']:8.3f} s  "
        f"{item['images_per_s']:8.2f} img/s  {tflops} TFLOP/img  {shown} of limit"
    )


def peak_for(device_name: str, override: float | None) -> tuple[float | None, str]:
    if override:
        return override, f"--peak-tflops {override:g}"
    for needle, tflops, label in PEAKS_BF16:
        if needle.lower() in device_name.lower():
            return tflops, f"{label}, dense bf16 (data sheet)"
    return None, f"unknown for {device_name!r}: pass --peak-tflops for fractions of the limit"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "gpu.json")
    parser.add_argument("--quick", action="store_true", help="2 runs, batch 1 and 8, baseline vs all but compile")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny configs on CPU: checks the script only")
    parser.add_argument("--only", choices=["ip2p", "flux"], help="run one architecture")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, if not detected")
    parser.add_argument("--runs", type=int, help="timed runs per row (median); default 5, --quick 2")
    parser.add_argument("--variants", help="comma-separated variant names (default: all; --quick: two)")
    parser.add_argument("--compile-mode", default=Optimizations().compile_mode, help="torch.compile mode")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="invalid value encountered in cast")  # random weights: NaN pixels

    import torch

    smoke = bool(args.cpu_smoke)
    if not smoke and not torch.cuda.is_available():
        print("gpu: no CUDA device — section skipped")
        return write(args.out, None)
    device = "cpu" if smoke else "cuda"
    if smoke:
        name = "cpu"
        peak, peak_source = args.peak_tflops or SMOKE_PEAK_TFLOPS, "nominal (smoke run: fractions mean nothing)"
    else:
        name = torch.cuda.get_device_name(0)
        peak, peak_source = peak_for(name, args.peak_tflops)

    all_variants = variants(compile_mode=args.compile_mode)
    if args.variants:
        wanted = [part.strip() for part in args.variants.split(",") if part.strip()]
        known = {variant.name: variant for variant in all_variants}
        unknown = [part for part in wanted if part not in known]
        if unknown:
            parser.error(f"unknown variants {unknown}; choose from {sorted(known)}")
        chosen = [known[part] for part in wanted]
    elif args.quick:
        chosen = [all_variants[0], all_variants[3]]  # baseline, and every optimisation but compile
    else:
        chosen = all_variants
    notes = []
    if smoke:
        # CPU Inductor would spend minutes compiling C++ here; compile is measured on CUDA.
        chosen = [variant for variant in chosen if not variant.options.compile]
        notes.append("cpu smoke run: tiny configs, fp32 on CPU, compile skipped; numbers check the script only")
        notes.append("FlopCounterMode does not count CPU SDPA kernels, so smoke FLOPs miss attention")
    runs = args.runs or (1 if smoke else 2 if args.quick else 5)
    batches = (1, 2) if smoke else (1, 8) if args.quick else BATCHES
    ip2p_steps = 2 if smoke else DEFAULT_STEPS[ARCH_INSTRUCT_PIX2PIX]
    flux_steps = 2 if smoke else DEFAULT_STEPS[ARCH_FLUX_KONTEXT]
    full = not smoke

    print(f"device: {name}; peak {peak} TFLOP/s ({peak_source}); variants: {', '.join(v.name for v in chosen)}")
    section: dict[str, Any] = {
        "device": f"{name} (smoke: tiny configs, not a measurement)" if smoke else name,
        "smoke": smoke,
        "peak_tflops": peak,
        "peak_source": peak_source,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "diffusers": _version("diffusers"),
        "flops": "torch.utils.flop_counter.FlopCounterMode over one whole edit per batch size, uncompiled",
        "timing": f"median of {runs} synchronised wall-clock runs of RemixPipeline.edit_batch after warm-up",
        "instruct_pix2pix_512": [],
        "flux_kontext": [],
        "flux_kontext_skipped": None,
        "notes": notes,
    }
    if args.only in (None, "ip2p"):
        section["instruct_pix2pix_512"] = bench_ip2p(
            device=device, full=full, chosen=chosen, batches=batches, steps=ip2p_steps, runs=runs, peak=peak
        )
    if args.only in (None, "flux"):
        resolutions = (64,) if smoke else FLUX_RESOLUTIONS[:1] if args.quick else FLUX_RESOLUTIONS
        section["flux_kontext"], section["flux_kontext_skipped"] = bench_flux(
            device=device,
            full=full,
            chosen=chosen,
            resolutions=resolutions,
            batches=(1,),
            steps=flux_steps,
            runs=runs,
            peak=peak,
        )
        if not full:
            section["notes"].append("flux-kontext: loaded in memory with RemixPipeline.from_diffusers")
        else:
            section["notes"].append(
                "flux-kontext: full size, bf16, built on the GPU and wrapped with RemixPipeline.from_diffusers "
                "(not saved and reloaded: ~36 GB of random weights)"
            )
    summarize(section)
    return write(args.out, section)


def summarize(section: dict[str, Any]) -> None:
    rows = section["instruct_pix2pix_512"]
    if rows:
        single = min((item for item in rows if item["batch"] == 1), key=lambda item: item["latency_s"])
        best = max(rows, key=lambda item: item["images_per_s"])
        section["summary"] = {
            "single_edit_latency_s": single["latency_s"],
            "single_edit_variant": single["variant"],
            "best_images_per_s": best["images_per_s"],
            "best_batch": best["batch"],
            "best_variant": best["variant"],
            "best_fraction_of_limit": best["fraction_of_limit"],
        }
        fraction = best["fraction_of_limit"]
        shown = "n/a" if fraction is None else f"{fraction * 100:.1f}%"
        print(
            f"\ninstruct-pix2pix: one edit {single['latency_s']:.3f} s ({single['variant']}); best "
            f"{best['images_per_s']:.2f} images/s at batch {best['batch']} ({best['variant']}), {shown} of limit"
        )
    if section.get("flux_kontext_skipped"):
        print(f"flux-kontext: skipped — {section['flux_kontext_skipped']}")


def write(out: Path, section: dict[str, Any] | None) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"gpu": section}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
