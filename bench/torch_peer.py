#!/usr/bin/env python3
"""PyTorch peer of issue 6: FP16, channels-last, CUDA-graph replay, on this machine's GPU.

For each model and batch size: the torchvision model (random weights, the same construction as
bench/export_torchvision.py, so the same network vrseg and ONNX Runtime run), converted to float16
and channels-last memory format, warmed up on a side stream, captured once into a CUDA graph
(torch.cuda.CUDAGraph), then timed by replaying the graph: `--repeats` samples of `--iters` replays,
each sample between two CUDA events; the median sample is reported.

Also measures the GPU's dense FP16 GEMM rate (torch.matmul of two 8192x8192 float16 matrices,
FP32 accumulation as cuBLAS does by default), the yardstick for the engine's achieved TFLOP/s, and
each model's FLOPs per frame (torch.utils.flop_counter; a multiply-add counts as 2).

Prints one JSON object per line (and appends them to --out when given):
  {"kind": "torch", "model", "batch", "ms_per_batch", "frames_per_s", "gflop_per_frame",
   "tflops", "samples_ms", "gpu", "torch", "cudnn", "precision": "fp16", "memory_format":
   "channels_last", "cuda_graph": true}
  {"kind": "gemm", "m", "n", "k", "ms", "tflops", "gpu", ...}
A failure prints {"kind": "torch", "model", "batch", "error"} and the run goes on.

  python3 bench/torch_peer.py [--out FILE] [--iters 50] [--repeats 7]
                              [--plan deeplabv3_resnet50:1,8,16,32 --plan resnet50:1,256 ...]
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Issue 6's batch sizes for each model.
DEFAULT_PLAN = {
    "deeplabv3_resnet50": [1, 8, 16, 32],
    "resnet50": [1, 256],
    "lraspp_mobilenet_v3_large": [1, 64],
}


def emit(obj, out):
    line = json.dumps(obj)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def environment():
    import torch

    return {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }


def time_replays(fn, iters, repeats):
    """Per-call milliseconds of `fn` for each of `repeats` samples of `iters` back-to-back calls."""
    import torch

    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / iters)
    return samples


def gemm_rate(iters, repeats, n=8192):
    import torch

    a = torch.randn((n, n), device="cuda", dtype=torch.float16)
    b = torch.randn((n, n), device="cuda", dtype=torch.float16)
    c = torch.empty((n, n), device="cuda", dtype=torch.float16)
    for _ in range(5):
        torch.matmul(a, b, out=c)
    torch.cuda.synchronize()
    samples = time_replays(lambda: torch.matmul(a, b, out=c), iters, repeats)
    ms = statistics.median(samples)
    return {"m": n, "n": n, "k": n, "ms": ms, "tflops": 2.0 * n ** 3 / (ms * 1e-3) / 1e12,
            "samples_ms": samples}


def flops_per_frame(model, hw):
    """GFLOP of one frame (float32 CPU count: the count does not depend on precision)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros((1, 3, hw[0], hw[1]))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return counter.get_total_flops() / 1e9


def bench_model(name, model16, hw, batch, iters, repeats, warmup):
    """Median ms per batch of graph replays of `model16` (fp16, channels-last, on the GPU)."""
    import torch

    static_in = torch.randn((batch, 3, hw[0], hw[1]), device="cuda", dtype=torch.float16)
    static_in = static_in.contiguous(memory_format=torch.channels_last)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.no_grad():
        # Warm-up on a side stream (cuDNN autotuning, lazy init), as graph capture requires.
        with torch.cuda.stream(side):
            for _ in range(warmup):
                model16(static_in)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = model16(static_in)
    torch.cuda.synchronize()
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    samples = time_replays(graph.replay, iters, repeats)
    if not torch.isfinite(static_out).all():
        raise RuntimeError(f"{name} batch {batch}: fp16 output is not finite")
    del graph, static_out, static_in
    return samples


def parse_plan(items):
    plan = {}
    for item in items:
        name, _, batches = item.partition(":")
        plan[name] = [int(b) for b in batches.split(",") if b]
    return plan


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="append the JSON lines to this file too")
    ap.add_argument("--iters", type=int, default=50, help="graph replays per timed sample (>= 50)")
    ap.add_argument("--repeats", type=int, default=7, help="timed samples; the median is reported")
    ap.add_argument("--warmup", type=int, default=10, help="eager warm-up runs before capture")
    ap.add_argument("--plan", action="append", default=[],
                    help="MODEL:B1,B2,... (repeatable); default: issue 6's models and batches")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-gemm", action="store_true")
    args = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        emit({"kind": "torch", "error": "no CUDA device"}, args.out)
        return 1
    from export_torchvision import MODELS, OutOnly, build

    torch.backends.cudnn.benchmark = True
    env = environment()
    failures = 0
    if not args.no_gemm:
        try:
            emit({"kind": "gemm", **gemm_rate(max(args.iters, 20), args.repeats), **env}, args.out)
        except Exception as e:  # noqa: BLE001
            failures += 1
            emit({"kind": "gemm", "error": f"{type(e).__name__}: {e}", **env}, args.out)
        torch.cuda.empty_cache()

    plan = parse_plan(args.plan) if args.plan else DEFAULT_PLAN
    for name, batches in plan.items():
        try:
            t0 = time.time()
            model = build(name, args.seed)
            if name != "resnet50":
                model = OutOnly.wrap(model)
            gflop = flops_per_frame(model, MODELS[name])
            model16 = model.half().cuda().to(memory_format=torch.channels_last).eval()
        except Exception as e:  # noqa: BLE001
            failures += 1
            emit({"kind": "torch", "model": name, "error": f"{type(e).__name__}: {e}", **env}, args.out)
            continue
        for batch in batches:
            try:
                samples = bench_model(name, model16, MODELS[name], batch, args.iters, args.repeats,
                                      args.warmup)
                ms = statistics.median(samples)
                fps = batch * 1000.0 / ms
                emit({
                    "kind": "torch", "model": name, "batch": batch,
                    "input": f"{MODELS[name][1]}x{MODELS[name][0]}",
                    "ms_per_batch": ms, "frames_per_s": fps,
                    "gflop_per_frame": gflop, "tflops": gflop * fps / 1000.0,
                    "samples_ms": samples, "iters": args.iters,
                    "precision": "fp16", "memory_format": "channels_last", "cuda_graph": True,
                    **env,
                }, args.out)
            except Exception as e:  # noqa: BLE001 - e.g. out of memory at one batch size
                failures += 1
                emit({"kind": "torch", "model": name, "batch": batch,
                      "error": f"{type(e).__name__}: {e}", **env}, args.out)
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        print(f"torch_peer: {name} done in {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
        del model16, model
        torch.cuda.empty_cache()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
