#!/usr/bin/env python3
"""PyTorch peer of issue 7's GPU pipeline: 1080p RGB frames in, composited frames out, FP16 + CUDA graphs.

The pipeline a Python user would write around torchvision's lraspp_mobilenet_v3_large (random
weights, built exactly as bench/export_torchvision.py builds it: seed, random BatchNorm affine
parameters, BatchNorm statistics calibrated on seeded images), per batch of B frames:

  pinned host uint8 [B,1080,1920,3] --H2D (non_blocking)--> device uint8 (the graph's static input)
  ---- captured in one torch.cuda.CUDAGraph per batch size -------------------------------------
  permute to NCHW (a view) -> float32 -> F.interpolate to 512x512 (bilinear, align_corners=False)
  -> (x / 255 - mean) / std -> float16 -> model (FP16, eval, channels-last)
  -> softmax over the 21 channels (float32) -> channel 15 (person)
  -> F.interpolate to 1080x1920 (bilinear, align_corners=False) = alpha
  -> frame * alpha + background * (1 - alpha) (torch.lerp, float32; background a solid colour,
     a device tensor) -> + 0.5 -> uint8 NHWC, written into the graph's static output
  ----------------------------------------------------------------------------------------------
  device uint8 [B,1080,1920,3] --D2H (non_blocking)--> pinned host uint8 -> stream synchronize

What is captured: everything from the device input buffer to the device output buffer
(preprocessing, the model, postprocessing, compositing, the layout change), replayed with one
graph launch. Not captured: the two copies between pinned host memory and the device and the
synchronisation (they are plain non_blocking copy_ calls on the same stream, then
Stream.synchronize()). This is the strongest straightforward peer: no per-op launch cost, cuDNN
autotuned (cudnn.benchmark), channels-last FP16 convolutions.

vrseg's side (bench/gpu_pipeline_bench.cc) runs the same network from the ONNX file this script
writes with --export (the same seed, so the same weights; written from the same in-process model
when --export is given), on the same frames (the same deterministic pixel pattern, 16 distinct
frames), over the same solid background.

Measures, for each batch size B (default 1 and 16):
  latency: one batch in flight, host wall time from the start of the H2D copy to the return of
    synchronize() after the D2H copy; `--warmup` batches, then `--samples` timed batches for B = 1
    and `--batch-iters` for B > 1; p50/p99/mean/min/max in ms (per batch; for B = 1 per frame)
    and frames/s of those sequential batches (B * count / total time);
  two_streams: the same graph captured twice (own buffers), batches alternating between two CUDA
    streams so that one batch's copies overlap the other's compute, at most two batches in flight
    (the host waits for batch k-2 before enqueueing batch k): frames/s.

Prints one JSON object to stdout (and writes it to --json):
  {"gpu", "torch", "torchvision", "cuda", "cudnn", "model", "seed", "frame", "model_input",
   "background", "captured", "onnx", "onnx_sha256",
   "batch1": {"batch", "latency_ms": {"p50", "p99", "mean", "min", "max"}, "samples",
              "frames_per_s", "two_streams": {"frames_per_s", "batches"}, "output_mean_frame0"},
   "batch16": {...}}

  python3 bench/torch_pipeline_peer.py [--export MODEL.onnx [--export-only]] [--json OUT.json]
      [--batches 1,16] [--samples 500] [--batch-iters 100] [--warmup 50] [--width 1920]
      [--height 1080] [--background 0,177,64] [--seed 0] [--opset 17]
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import export_torchvision as etv  # noqa: E402  (bench/ on the path first)

MODEL = "lraspp_mobilenet_v3_large"
MODEL_HW = etv.MODELS[MODEL]  # (512, 512)
NUM_CLASSES = 21
PERSON_CHANNEL = 15  # Pascal VOC "person"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
DISTINCT_FRAMES = 16


def log(msg):
    print(f"torch_pipeline_peer: {msg}", file=sys.stderr, flush=True)


def vrseg_metadata(input_name, output_name):
    """The ONNX metadata_props vrseg's backends read (src/model/model_info.cc, ModelInfo)."""
    h, w = MODEL_HW
    return {
        "vrseg.format": "1",
        "vrseg.name": "lraspp_peer",
        "vrseg.input_name": input_name,
        "vrseg.output_name": output_name,
        "vrseg.input_width": str(w),
        "vrseg.input_height": str(h),
        "vrseg.input_layout": "NCHW",
        "vrseg.output_layout": "NCHW",
        "vrseg.channel_order": "RGB",
        "vrseg.mean": ",".join(repr(v) for v in MEAN),
        "vrseg.std": ",".join(repr(v) for v in STD),
        "vrseg.resize_half_pixel": "1",
        "vrseg.output_kind": "class_logits",
        "vrseg.output_channels": str(NUM_CLASSES),
        "vrseg.person_channel": str(PERSON_CHANNEL),
        "vrseg.licence": "BSD-3-Clause (torchvision); random weights",
        "vrseg.source": "torchvision lraspp_mobilenet_v3_large, weights=None, "
                        "bench/export_torchvision.py build()",
    }


def export_onnx(model, path, seed, opset):
    """Exports `model` (float32, CPU, eval, returning 'out') as export_torchvision does, plus
    vrseg metadata. Returns the file's SHA-256."""
    import onnx
    import torch

    g = torch.Generator().manual_seed(seed + 3)
    x = etv.images(etv.REF_BATCH, MODEL_HW, g)
    with torch.no_grad():
        y = model(x)
    if tuple(y.shape[1:]) != (NUM_CLASSES,) + tuple(MODEL_HW):
        raise RuntimeError(f"unexpected output shape {list(y.shape)}")
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    etv.export(model, x, path, opset)
    etv.pin_output_shape(path, tuple(y.shape))
    m = onnx.load(path)
    input_name = m.graph.input[0].name
    output_name = m.graph.output[0].name
    props = vrseg_metadata(input_name, output_name)
    keep = [(p.key, p.value) for p in m.metadata_props if p.key not in props]
    del m.metadata_props[:]
    for k, v in keep + sorted(props.items()):
        e = m.metadata_props.add()
        e.key = k
        e.value = v
    onnx.save(m, path)
    etv.check(path)
    digest = etv.sha256(path)
    log(f"exported {path} (input '{input_name}', output '{output_name}', "
        f"{os.path.getsize(path) / 1e6:.1f} MB, sha256 {digest[:16]}...)")
    return digest


def make_frames(n, height, width, pinned=True):
    """n distinct RGB24 frames [n,H,W,3] uint8 in (pinned) host memory, a deterministic pattern:
    v = ((7x + 13y + 85c + 37i) XOR ((x*y) >> 5)) & 255 (the same formula as gpu_pipeline_bench)."""
    import torch

    x = torch.arange(width, dtype=torch.int32).view(1, width, 1)
    y = torch.arange(height, dtype=torch.int32).view(height, 1, 1)
    c = torch.arange(3, dtype=torch.int32).view(1, 1, 3)
    base = 7 * x + 13 * y + 85 * c  # [H,W,3]
    noise = (x * y) >> 5  # [H,W,1]
    frames = torch.empty((n, height, width, 3), dtype=torch.uint8, pin_memory=pinned)
    for i in range(n):
        frames[i].copy_((torch.bitwise_xor(base + 37 * i, noise) & 255).to(torch.uint8))
    return frames


def make_step(model, static_in, static_out, background, model_dtype):
    """The pipeline from `static_in` (uint8 [B,H,W,3] NHWC) to `static_out` (uint8, the same
    shape) as a function of no arguments (what the CUDA graph captures). Runs on the tensors'
    device; `model_dtype` is the model's input dtype (float16 here, float32 for a CPU check)."""
    import torch
    import torch.nn.functional as F

    dev = static_in.device
    height, width = static_in.shape[1], static_in.shape[2]
    std = torch.tensor(STD, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    mean = torch.tensor(MEAN, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    scale = 1.0 / (255.0 * std)  # (x / 255 - mean) / std = x * scale + shift
    shift = -mean / std
    bg = torch.tensor(background, dtype=torch.float32, device=dev).view(1, 3, 1, 1)
    mh, mw = MODEL_HW
    person = slice(PERSON_CHANNEL, PERSON_CHANNEL + 1)

    def step():
        # NHWC uint8 -> NCHW float32 (channels-last strides: the permute is a view).
        x = static_in.permute(0, 3, 1, 2).float()
        small = F.interpolate(x, size=(mh, mw), mode="bilinear", align_corners=False)
        logits = model((small * scale + shift).to(model_dtype))
        alpha = torch.softmax(logits, dim=1, dtype=torch.float32)[:, person]
        alpha = F.interpolate(alpha, size=(height, width), mode="bilinear", align_corners=False)
        out = torch.lerp(bg, x, alpha)  # bg + alpha * (x - bg), in [0, 255]
        out.add_(0.5)  # round to nearest on the truncating cast below
        static_out.copy_(out.permute(0, 2, 3, 1))

    return step


class Pipeline:
    """One batch size's static device buffers, pinned output buffer and captured graph."""

    def __init__(self, model16, batch, height, width, background, warmup):
        import torch

        dev = torch.device("cuda")
        self.batch = batch
        self.static_in = torch.zeros((batch, height, width, 3), dtype=torch.uint8, device=dev)
        self.static_out = torch.empty((batch, height, width, 3), dtype=torch.uint8, device=dev)
        self.host_out = torch.empty((batch, height, width, 3), dtype=torch.uint8, pin_memory=True)
        step = make_step(model16, self.static_in, self.static_out, background, torch.float16)

        # Warm-up on a side stream (cuDNN autotuning, lazy initialisation), as capture requires.
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.no_grad():
            with torch.cuda.stream(side):
                for _ in range(max(3, warmup)):
                    step()
            torch.cuda.current_stream().wait_stream(side)
            torch.cuda.synchronize()
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                step()
        torch.cuda.synchronize()

    def enqueue(self, host_in):
        """H2D, graph, D2H on the current stream (nothing waits)."""
        self.static_in.copy_(host_in, non_blocking=True)
        self.graph.replay()
        self.host_out.copy_(self.static_out, non_blocking=True)


def pct(v, q):
    """The same percentile as the C++ benches: sorted[min(n-1, floor(q*n))]."""
    s = sorted(v)
    return s[min(len(s) - 1, int(q * len(s)))]


def stats_ms(samples):
    return {
        "p50": pct(samples, 0.5),
        "p99": pct(samples, 0.99),
        "mean": sum(samples) / len(samples),
        "min": min(samples),
        "max": pct(samples, 1.0),
    }


def bench_batch(model16, frames, batch, args, background):
    import torch

    n_frames = frames.shape[0]
    height, width = frames.shape[1], frames.shape[2]
    count = args.samples if batch == 1 else args.batch_iters

    def batch_input(k):
        start = (k * batch) % n_frames
        if start + batch <= n_frames:
            return frames[start:start + batch]  # contiguous pinned slice: a true async copy
        return frames[:batch]

    pipe = Pipeline(model16, batch, height, width, background, warmup=3)
    stream = torch.cuda.Stream()
    res = {"batch": batch}
    with torch.cuda.stream(stream):
        # Correctness probe: frame 0's composited output, mean byte (compare with vrseg's).
        pipe.enqueue(batch_input(0))
        stream.synchronize()
        res["output_mean_frame0"] = float(pipe.host_out[0].float().mean().item())
        for k in range(args.warmup):
            pipe.enqueue(batch_input(k))
            stream.synchronize()
        # One batch in flight: latency per batch, and the frames/s of those sequential batches.
        samples = []
        t_all = time.perf_counter()
        for k in range(count):
            t0 = time.perf_counter()
            pipe.enqueue(batch_input(k))
            stream.synchronize()
            samples.append((time.perf_counter() - t0) * 1e3)
        total = time.perf_counter() - t_all
    res["latency_ms"] = stats_ms(samples)
    res["samples"] = count
    res["frames_per_s"] = batch * count / total

    # Two streams, two graphs (own buffers), at most two batches in flight.
    pipes = [pipe, Pipeline(model16, batch, height, width, background, warmup=3)]
    streams = [stream, torch.cuda.Stream()]
    done = [None, None]

    def run_two(n):
        for k in range(n):
            j = k % 2
            if done[j] is not None:
                done[j].synchronize()  # batch k-2 is on the host: its buffers may be reused
            with torch.cuda.stream(streams[j]):
                pipes[j].enqueue(batch_input(k))
                ev = torch.cuda.Event()
                ev.record(streams[j])
                done[j] = ev
        for s in streams:
            s.synchronize()

    run_two(max(2, args.warmup))
    t0 = time.perf_counter()
    run_two(count)
    total2 = time.perf_counter() - t0
    res["two_streams"] = {"frames_per_s": batch * count / total2, "batches": count}
    del pipes, pipe
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--export", metavar="PATH", help="write the model as ONNX with vrseg metadata")
    ap.add_argument("--export-only", action="store_true", help="with --export: do not benchmark")
    ap.add_argument("--json", metavar="PATH", help="also write the JSON result here")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--samples", type=int, default=500, help="timed frames at batch 1")
    ap.add_argument("--batch-iters", type=int, default=100, help="timed batches at batch > 1")
    ap.add_argument("--warmup", type=int, default=50, help="untimed batches before timing")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--background", default="0,177,64", help="R,G,B of the solid background")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()

    background = tuple(int(v) for v in args.background.split(","))
    if len(background) != 3 or not all(0 <= v <= 255 for v in background):
        ap.error("--background takes R,G,B in 0..255")
    batches = [int(b) for b in args.batches.split(",") if b]
    if not batches or min(batches) < 1:
        ap.error("--batches takes positive integers")
    if args.export_only and not args.export:
        ap.error("--export-only needs --export")

    import torch

    torch.backends.cudnn.benchmark = True
    t0 = time.time()
    model = etv.OutOnly.wrap(etv.build(MODEL, args.seed))  # float32, CPU, eval
    log(f"{MODEL} built (seed {args.seed}) in {time.time() - t0:.1f} s")
    onnx_sha = None
    if args.export:
        onnx_sha = export_onnx(model, args.export, args.seed, args.opset)
        if args.export_only:
            return 0
    if not torch.cuda.is_available():
        log("no CUDA device")
        return 1
    # In place: the float32 model is not needed any more (exported above if asked).
    model16 = model.half().cuda().to(memory_format=torch.channels_last).eval()

    result = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "model": MODEL,
        "seed": args.seed,
        "frame": f"{args.width}x{args.height} RGB24, pinned host",
        "model_input": f"{MODEL_HW[1]}x{MODEL_HW[0]}",
        "background": list(background),
        "precision": "fp16",
        "captured": "device input buffer -> preprocessing -> model -> softmax -> upsample -> "
                    "blend -> uint8 NHWC device output buffer (one CUDA graph); H2D, D2H and "
                    "synchronize outside",
    }
    try:
        import torchvision

        result["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    if args.export:
        result["onnx"] = os.path.abspath(args.export)
        result["onnx_sha256"] = onnx_sha

    frames = make_frames(max(DISTINCT_FRAMES, max(batches)), args.height, args.width)
    for b in batches:
        t0 = time.time()
        result[f"batch{b}"] = bench_batch(model16, frames, b, args, background)
        r = result[f"batch{b}"]
        log(f"batch {b}: latency p50 {r['latency_ms']['p50']:.3f} ms, p99 "
            f"{r['latency_ms']['p99']:.3f} ms, mean {r['latency_ms']['mean']:.3f} ms; "
            f"{r['frames_per_s']:.0f} frames/s sequential, "
            f"{r['two_streams']['frames_per_s']:.0f} frames/s on two streams "
            f"({time.time() - t0:.1f} s)")
    text = json.dumps(result, indent=1)
    print(text, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
