#!/usr/bin/env python3
"""Export torchvision conv nets with seeded random weights to ONNX, with PyTorch reference outputs.

Issue 6 measures vrseg's GPU engine and ONNX Runtime's CUDA provider on torchvision's resnet50
(224x224), deeplabv3_resnet50 (512x512, aux_loss=False, output 'out') and
lraspp_mobilenet_v3_large (512x512, output 'out'). No network is reachable where this runs, so the
weights are random (weights=None, weights_backbone=None) from torch.manual_seed(SEED):

  * convolution and linear weights: torchvision's own initialisation, seeded;
  * BatchNormalization affine parameters: drawn from the seed (gamma in [0.5, 1.5], beta ~ N(0, 0.1))
    instead of torchvision's trivial 1 and 0;
  * BatchNormalization running statistics: measured on seeded random images (a few forward passes
    in training mode with a cumulative average), then the model is put in eval mode. Random
    running statistics make the activations of a 50-layer net grow or vanish layer after layer;
    measured ones keep them of order one, as in a trained net, so outputs are not degenerate
    (and fit float16).

Each model is exported with torch.onnx.export (TorchScript exporter, dynamo=False), opset 17, a
dynamic batch axis ('input' and 'output', axis 0 named 'N') and constant folding; the output's other
dimensions, which the exporter leaves unknown for the segmentation models, are written in; then the
file is checked with onnx.checker. For each model a PyTorch float32 CPU reference (input and output for a batch of 2
seeded images) is saved as NAME_ref.npz, so parity is checkable without ONNX Runtime.

With --fp16 (default when CUDA is available) a float16 copy of each model is also exported
(NAME_fp16.onnx, traced on the GPU): ONNX Runtime runs a model in the precision of its file, so this
is ORT CUDA's FP16 peer.

A manifest (manifest.json) lists every file with its input/output shape, SHA-256 and the reference
output's statistics.

  python3 bench/export_torchvision.py OUT_DIR [--models resnet50,deeplabv3_resnet50,...]
                                              [--seed 0] [--fp16 | --no-fp16] [--opset 17]
"""
import argparse
import hashlib
import json
import os
import sys
import time

MODELS = {
    # name: (input height, width)
    "resnet50": (224, 224),
    "deeplabv3_resnet50": (512, 512),
    "lraspp_mobilenet_v3_large": (512, 512),
}
REF_BATCH = 2
CALIBRATION_STEPS = 4
CALIBRATION_BATCH = 4


def log(msg):
    print(f"export_torchvision: {msg}", flush=True)


def build(name, seed):
    """The torchvision model `name`, random weights from `seed`, float32, eval mode, CPU."""
    import torch
    import torchvision.models as tvm
    import torchvision.models.segmentation as tvs

    torch.manual_seed(seed)
    if name == "resnet50":
        model = tvm.resnet50(weights=None)
    elif name == "deeplabv3_resnet50":
        model = tvs.deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=False)
    elif name == "lraspp_mobilenet_v3_large":
        model = tvs.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)
    else:
        raise ValueError(f"unknown model {name}")
    randomise_batchnorm(model, seed)
    calibrate_batchnorm(model, MODELS[name], seed)
    model.eval()
    return model


def randomise_batchnorm(model, seed):
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine:
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


def calibrate_batchnorm(model, hw, seed):
    """Running statistics from seeded random images (cumulative average over a few batches)."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    g = torch.Generator().manual_seed(seed + 2)
    # On the GPU where there is one (the images are drawn on the CPU either way): minutes on a CPU
    # for deeplabv3 at 512x512.
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).train()
    with torch.no_grad():
        for _ in range(CALIBRATION_STEPS):
            model(images(CALIBRATION_BATCH, hw, g).to(device))
    for m in bns:
        m.momentum = 0.1
    model.cpu().eval()


def images(n, hw, generator):
    """n images normalised as torchvision's ImageNet transforms do, from uniform [0,1] pixels."""
    import torch

    x = torch.rand((n, 3, hw[0], hw[1]), generator=generator)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


class OutOnly:
    """Wraps a segmentation model so that it returns its 'out' tensor instead of a dict."""

    @staticmethod
    def wrap(model):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner(x)["out"]

        return Wrapped(model).eval()


def export(model, example, path, opset):
    import torch

    torch.onnx.export(
        model,
        (example,),
        path,
        export_params=True,
        opset_version=opset,
        do_constant_folding=True,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
        dynamo=False,
    )


def pin_output_shape(path, shape):
    """Writes the output's static dimensions into the file (batch stays 'N').

    The TorchScript exporter leaves every dimension of the segmentation models' output unknown
    ([N, ?, ?, ?]: it cannot follow the final interpolation to the input size), which consumers
    that size their buffers from the declared shape (vrseg's backends) cannot use.
    """
    import onnx

    model = onnx.load(path)
    dims = model.graph.output[0].type.tensor_type.shape.dim
    if len(dims) != len(shape):
        raise RuntimeError(f"{path}: output has rank {len(dims)}, PyTorch gave {list(shape)}")
    for i, d in enumerate(dims):
        if i == 0:
            d.Clear()
            d.dim_param = "N"
        elif d.HasField("dim_value") and d.dim_value != shape[i]:
            raise RuntimeError(f"{path}: output dimension {i} is {d.dim_value}, PyTorch gave {shape[i]}")
        else:
            d.Clear()
            d.dim_value = int(shape[i])
    onnx.save(model, path)


def check(path):
    import onnx

    # A path, not a loaded model: check_model then also handles files over 2 GB.
    onnx.checker.check_model(path, full_check=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opset", type=int, default=17)
    fp16 = ap.add_mutually_exclusive_group()
    fp16.add_argument("--fp16", dest="fp16", action="store_true", default=None, help="also export float16 copies (needs CUDA)")
    fp16.add_argument("--no-fp16", dest="fp16", action="store_false")
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    want_fp16 = args.fp16 if args.fp16 is not None else torch.cuda.is_available()
    if want_fp16 and not torch.cuda.is_available():
        log("--fp16 needs CUDA; float16 copies skipped")
        want_fp16 = False
    os.makedirs(args.out_dir, exist_ok=True)
    names = [m for m in args.models.split(",") if m]
    manifest = {
        "seed": args.seed,
        "opset": args.opset,
        "torch": torch.__version__,
        "models": {},
    }
    try:
        import torchvision

        manifest["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    failures = 0
    for name in names:
        if name not in MODELS:
            log(f"unknown model {name} (known: {', '.join(MODELS)})")
            failures += 1
            continue
        h, w = MODELS[name]
        entry = {"input": [-1, 3, h, w]}
        try:
            t0 = time.time()
            model = build(name, args.seed)
            if name != "resnet50":
                model = OutOnly.wrap(model)
            g = torch.Generator().manual_seed(args.seed + 3)
            x = images(REF_BATCH, (h, w), g)
            with torch.no_grad():
                y = model(x)
            y_np = y.numpy()
            if not np.isfinite(y_np).all():
                raise RuntimeError(f"{name}: the reference output is not finite")
            path = os.path.join(args.out_dir, f"{name}.onnx")
            export(model, x, path, args.opset)
            pin_output_shape(path, y_np.shape)
            check(path)
            ref = os.path.join(args.out_dir, f"{name}_ref.npz")
            np.savez(ref, input=x.numpy(), output=y_np)
            entry.update({
                "onnx": os.path.basename(path),
                "sha256": sha256(path),
                "bytes": os.path.getsize(path),
                "output": [-1] + list(y_np.shape[1:]),
                "reference": os.path.basename(ref),
                "reference_batch": REF_BATCH,
                "output_mean": float(y_np.mean()),
                "output_std": float(y_np.std()),
                "output_max_abs": float(np.abs(y_np).max()),
            })
            if y_np.ndim == 4:
                # How many classes win somewhere: a degenerate net gives one everywhere.
                entry["argmax_classes_used"] = int(len(np.unique(y_np.argmax(axis=1))))
            log(f"{name}: {path} ({entry['bytes'] / 1e6:.1f} MB, output {list(y_np.shape)}, "
                f"std {entry['output_std']:.3g}) in {time.time() - t0:.1f} s")
            if want_fp16:
                half = model.half().cuda()
                xh = x.half().cuda()
                with torch.no_grad():
                    yh = half(xh).float().cpu().numpy()
                path16 = os.path.join(args.out_dir, f"{name}_fp16.onnx")
                export(half, xh, path16, args.opset)
                pin_output_shape(path16, y_np.shape)
                check(path16)
                entry.update({
                    "onnx_fp16": os.path.basename(path16),
                    "sha256_fp16": sha256(path16),
                    "fp16_max_abs_diff_vs_fp32": float(np.abs(yh - y_np).max()),
                })
                log(f"{name}: {path16} (PyTorch fp16 vs fp32 max abs difference "
                    f"{entry['fp16_max_abs_diff_vs_fp32']:.3g})")
                del half
                torch.cuda.empty_cache()
        except Exception as e:  # noqa: BLE001 - one model's failure must not stop the others
            failures += 1
            entry["error"] = f"{type(e).__name__}: {e}"
            log(f"{name}: FAILED: {entry['error']}")
        manifest["models"][name] = entry
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    log(f"manifest: {os.path.join(args.out_dir, 'manifest.json')}; {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
