#!/usr/bin/env python3
"""PyTorch's own FP16 against its FP32 on bench/export_torchvision.py's seeded models.

The yardstick for the engine's FP16 parity (tests/engine/engine_gpu_test.cc, ExtraModelsMatchOrt):
the same models (same seed), batch 2 of uniform random pixels normalised as ImageNet images (as the
test feeds them; --raw: unnormalised [0, 1] values), FP32 and FP16 channels-last on the GPU, TF32
off. Prints, per model, the largest |logit|, the largest absolute logit difference, the largest
softmax probability difference and the argmax label IoU (union-weighted over classes) of FP16
against FP32.

    python3 bench/torch_fp16_parity.py [--raw] [--seed 0]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_torchvision as ex  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", action="store_true", help="unnormalised [0, 1] pixels")
    ap.add_argument("--seed", type=int, default=0, help="the export's weight seed")
    args = ap.parse_args()
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    for name, hw in ex.MODELS.items():
        model = ex.build(name, args.seed)
        if name != "resnet50":
            model = ex.OutOnly.wrap(model)
        model = model.cuda().eval()
        g = torch.Generator().manual_seed(42)
        x = torch.rand((2, 3, hw[0], hw[1]), generator=g)
        if not args.raw:
            mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            x = (x - mean) / std
        x = x.cuda()
        with torch.no_grad():
            y32 = model(x).float()
            m16 = model.half().to(memory_format=torch.channels_last)
            y16 = m16(x.half().to(memory_format=torch.channels_last)).float()
        prob = (y32.softmax(1) - y16.softmax(1)).abs().max().item()
        a32, a16 = y32.argmax(1), y16.argmax(1)
        agree, total = (a32 == a16).sum().item(), a32.numel()
        print(f"{name}: torch fp16 vs fp32: max |logit| {y32.abs().max().item():.3g}, max abs err "
              f"{(y32 - y16).abs().max().item():.3g}, max prob diff {prob:.3g}, argmax IoU "
              f"{agree / (2 * total - agree):.4f}", flush=True)


if __name__ == "__main__":
    main()
