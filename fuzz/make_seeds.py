#!/usr/bin/env python3
"""Regenerate the hand-made fuzz seeds (the rest are copies: board/*.toml, ST's layouts, generated layouts).

Usage: fuzz/make_seeds.py IMAGES_OUT_DIRS...   (folders holding a built sdcard.img / emmc.img with its flash.tsv)
Run from the repository root; needs fiptool (arm-trusted-firmware-tools)."""
import os, struct, subprocess, sys, tempfile

S = "fuzz/seeds"

def write(path, data):
    with open(path, "wb") as f:
        f.write(data)

def stm32_v2(minor, payload):
    h = bytearray(512)
    h[0:4] = b"STM2"
    struct.pack_into("<I", h, 0x44, sum(payload) & 0xFFFFFFFF)
    struct.pack_into("<I", h, 0x48, 0x00020000 | (minor << 8))
    struct.pack_into("<I", h, 0x4C, len(payload))
    struct.pack_into("<I", h, 0x6C, 0x10)
    struct.pack_into("<I", h, 0x80, 0xFFFF5453)
    return bytes(h) + payload

write(f"{S}/stm32_header/crafted-v2.0.stm32", stm32_v2(0, b"MP13 payload " * 20))
write(f"{S}/stm32_header/crafted-v2.2.stm32", stm32_v2(2, b"MP25 payload " * 20))

with tempfile.TemporaryDirectory() as t:
    for n, body in [("bl32", b"bl32 " * 40), ("bl33", b"bl33 " * 60)]:
        write(os.path.join(t, n), body)
    out = os.path.join(t, "fip.bin")
    subprocess.run(["fiptool", "create", "--tos-fw", os.path.join(t, "bl32"), "--nt-fw", os.path.join(t, "bl33"), out], check=True)
    write(f"{S}/fip/fiptool-small.bin", open(out, "rb").read())
write(f"{S}/fip/toc-empty.bin", struct.pack("<IIQ", 0xAA640001, 0x12345678, 0) + bytes(40))

def sparse_seed(name, len_, head, tail, tsv=False):
    split = len(head) | (0x80000000 if tsv else 0)
    write(f"{S}/gpt_inspect/{name}", struct.pack("<QI", len_, split) + head + tail)

for d in sys.argv[1:]:
    for img in ("sdcard.img", "emmc.img"):
        p = os.path.join(d, img)
        if not os.path.exists(p):
            continue
        size = os.path.getsize(p)
        with open(p, "rb") as f:
            head = f.read(34 * 512 + 4096)
            f.seek(size - 33 * 512)
            tail = f.read()
        sparse_seed(f"{os.path.basename(d)}-{img}", size, head, tail)
    tsv = open(os.path.join(d, "flash.tsv"), "rb").read()
    sparse_seed(f"{os.path.basename(d)}-flash.tsv", len(tsv), tsv, b"", tsv=True)
small = open(f"{S}/stm32_header/mkimage-v1-small.stm32", "rb").read()
sparse_seed("stm32-file", len(small), small, b"")
fipb = open(f"{S}/fip/fiptool-small.bin", "rb").read()
sparse_seed("fip-file", len(fipb), fipb, b"")
