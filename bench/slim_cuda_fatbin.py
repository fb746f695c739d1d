#!/usr/bin/env python3
"""Shrink a CUDA shared library for carrying to a machine of one GPU architecture.

ONNX Runtime's CUDA provider (libonnxruntime_providers_cuda.so, 230 MB) holds device code for six
SM architectures (75, 80, 86, 89, 90, 120) in its .nv_fatbin section: 166 MB, of which sm_90 is
32 MB. The device tool carries at most 64 MiB a call, and the whole library xz-compresses to
165 MB. This tool zeroes, in a copy, the device code of every other architecture wherever the
wanted one is present, leaving sizes, offsets and headers as they are: the CUDA driver picks the
sm_90 code on an H100/H200 and never reads the zeroed entries, and xz squeezes the zeros away
(37 MB). Entries of a fatbin that has no code for the wanted architecture are left whole.

The result runs ONLY on GPUs of that architecture (elsewhere its kernels are garbage): a transport
copy for the benchmark machine, never something to install.

Fatbin layout (as read here, checked at every step; nothing is written if it does not add up):
  fatbin header: u32 magic 0xBA55ED50, u16 version, u16 header size, u64 size of the entries
  entry header:  u16 kind, u16 version, u32 header size, u64 payload size, ..., u32 SM at offset 28
  payload:       follows the entry header; the next entry follows the payload

  python3 bench/slim_cuda_fatbin.py IN.so OUT.so [--sm 90] [--xz]   (--xz: also OUT.so.xz)
"""
import argparse
import shutil
import struct
import subprocess
import sys

MAGIC = 0xBA55ED50


def section(data, wanted):
    """(offset, size) of the ELF64 section named `wanted`, or None."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise ValueError("not an ELF64 file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)

    strtab_off = header(shstrndx)[4]
    for i in range(shnum):
        h = header(i)
        start = strtab_off + h[0]
        name = data[start:data.index(b"\0", start)].decode()
        if name == wanted:
            return h[4], h[5]
    return None


def plan(data, sm):
    """The (offset, size) payload ranges to zero, and counts for the report."""
    sec = section(data, ".nv_fatbin")
    if sec is None:
        raise ValueError("no .nv_fatbin section")
    pos, end = sec[0], sec[0] + sec[1]
    ranges, fatbins, untouched = [], 0, 0
    while pos < end:
        magic, _version, hsize, size = struct.unpack_from("<IHHQ", data, pos)
        if magic != MAGIC:
            pos += 8  # fatbins are 8-byte aligned, padding between them
            continue
        fatbins += 1
        entries, p, fend = [], pos + hsize, pos + hsize + size
        while p < fend:
            _kind, _ever, ehsize, psize = struct.unpack_from("<HHIQ", data, p)
            arch, = struct.unpack_from("<I", data, p + 28)
            if ehsize < 32 or p + ehsize + psize > fend:
                raise ValueError(f"fatbin at {pos:#x}: entry at {p:#x} overruns its fatbin")
            entries.append((arch, p + ehsize, psize))
            p += ehsize + psize
        if p != fend:
            raise ValueError(f"fatbin at {pos:#x}: entries end at {p:#x}, header says {fend:#x}")
        if any(a == sm for a, _, _ in entries):
            ranges += [(s, n) for a, s, n in entries if a != sm]
        else:
            untouched += 1
        pos = fend
    return ranges, fatbins, untouched


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--sm", type=int, default=90, help="SM architecture to keep (default 90)")
    ap.add_argument("--xz", action="store_true", help="also write OUTPUT.xz (xz -9e, x86 filter)")
    args = ap.parse_args()
    with open(args.input, "rb") as f:
        data = bytearray(f.read())
    try:
        ranges, fatbins, untouched = plan(data, args.sm)
    except ValueError as e:
        print(f"slim_cuda_fatbin: {args.input}: {e}; nothing written", file=sys.stderr)
        return 1
    for start, size in ranges:
        data[start:start + size] = bytes(size)
    with open(args.output, "wb") as f:
        f.write(data)
    shutil.copymode(args.input, args.output)
    zeroed = sum(n for _, n in ranges)
    print(f"slim_cuda_fatbin: {args.output}: {fatbins} fatbins, device code of other "
          f"architectures zeroed in {fatbins - untouched} ({zeroed / 1e6:.0f} MB), "
          f"{untouched} without sm_{args.sm} left whole")
    if args.xz:
        with open(args.output + ".xz", "wb") as out:
            subprocess.run(["xz", "-T0", "--x86", "--lzma2=preset=9e", "-c", args.output],
                           stdout=out, check=True)
        print(f"slim_cuda_fatbin: {args.output}.xz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
