#!/usr/bin/env python3
"""Regenerate the seeds of the `fwu` and `dfu_replies` fuzz targets (see fuzz/harness/fwu.rs, dfu_replies.rs).

Usage: fuzz/make_device_seeds.py   (from the repository root; needs nothing but Python 3)

fwu: U-Boot mkfwumdata's outputs (tests/fixtures/fwu/, provenance in its README), behind the harness's geometry
byte, plus variants re-CRC'd so the decoder gets past the CRC (vendor data, 3 banks in trial state, ST scarthgap's
version-0 file, two images).
dfu_replies: what the ROM, TF-A and U-Boot send (strings and descriptors as src/dfu/descriptors.rs documents them,
the same as tools/emu and the unit tests), one file per parser, and whole flashes scripted for the sequencer in the
byte order the harness reads them."""
import os, struct, zlib

S = "fuzz/seeds"
FIX = "tests/fixtures/fwu"


def write(target, name, data):
    os.makedirs(f"{S}/{target}", exist_ok=True)
    with open(f"{S}/{target}/{name}", "wb") as f:
        f.write(bytes(data))


# ---------------------------------------------------------------- fwu
ST_GEOMETRY = (1 << 3) | 2  # harness selector: v1 reader with 2 banks, 1 image


def recrc(b, end):
    b = bytearray(b)
    struct.pack_into("<I", b, 0, zlib.crc32(bytes(b[4:end])) & 0xFFFFFFFF)
    return bytes(b)


fixtures = {n: open(f"{FIX}/{n}", "rb").read() for n in sorted(os.listdir(FIX)) if n.endswith(".bin")}
for n, b in fixtures.items():
    write("fwu", f"mkfwumdata-{n}", [ST_GEOMETRY] + list(b))
v2 = fixtures["metadata-v2.bin"]
v1 = fixtures["metadata-v1.bin"]
# A metadata partition: the file, then the rest of the 256 KiB partition (cut short here) erased.
write("fwu", "v2-in-partition", [ST_GEOMETRY] + list(v2) + [0xFF] * 136)
# v2 with vendor data counted in metadata_size (mkfwumdata -V).
vd = bytearray(v2 + b"vendor")
struct.pack_into("<I", vd, 0x10, len(vd))
write("fwu", "v2-vendor-data", [ST_GEOMETRY] + list(recrc(vd, len(vd))))
# v2 with 3 banks, trial state (0xFE), bank 2 invalid.
three = bytearray(v2[:0x50 + 0x28] + v2[0x60:0x78])
struct.pack_into("<I", three, 0x10, len(three))
three[0x18:0x1C] = bytes([0xFE, 0xFC, 0xFF, 0xFF])
three[0x20] = 3
struct.pack_into("<H", three, 0x24, 32 + 3 * 24)
write("fwu", "v2-three-banks-trial", [ST_GEOMETRY] + list(recrc(three, len(three))))
# v2 with two images (the FIP and another), as the descriptor allows.
two = bytearray(v2[:0x78] + v2[0x28:0x78])
struct.pack_into("<I", two, 0x10, len(two))
struct.pack_into("<H", two, 0x22, 2)
write("fwu", "v2-two-images", [ST_GEOMETRY] + list(recrc(two, len(two))))
# ST scarthgap's fwumd_tool.py output: the v1 layout with version 0 (refused), and the same as version 1 read with
# a 1-bank and a 4-bank geometry.
zero = bytearray(v1)
struct.pack_into("<I", zero, 4, 0)
write("fwu", "scarthgap-version-0", [ST_GEOMETRY] + list(recrc(zero, len(zero))))
write("fwu", "v1-one-bank-geometry", [(1 << 3) | 1] + list(v1))
write("fwu", "v1-four-bank-geometry", [(1 << 3) | 4] + list(v1))

# ---------------------------------------------------------------- dfu_replies, one parser each
write("dfu_replies", "getstatus-dnload-idle", [0, 0x00, 0x34, 0x12, 0x05, 0x05, 0x00])
write("dfu_replies", "getstatus-tfa-manifest", [0, 0, 1, 0, 0, 7, 0])
write("dfu_replies", "getstatus-errwrite", [0, 0x03, 0, 0, 0, 10, 0])
write("dfu_replies", "functional-tfa", [1, 9, 0x21, 0x0F, 0xFF, 0x00, 0x00, 0x04, 0x10, 0x01])
write("dfu_replies", "functional-uboot", [1, 9, 0x21, 0x0F, 0, 0, 0x00, 0x10, 0x10, 0x01])
write("dfu_replies", "functional-dfu10", [1, 7, 0x21, 0x0B, 0, 0, 0x40, 0])


def functional(attributes=0x0F, detach=255, transfer=1024):
    return [9, 0x21, attributes] + list(struct.pack("<HHH", detach, transfer, 0x0110))


def configuration(count, func):
    c = [9, 2, 0, 0, 1, 1, 2, 0xC0, 0x32]
    for i in range(count):
        c += [9, 4, 0, i, 0, 0xFE, 0x01, 0x02, 4 + i]
    c += func
    c[2:4] = list(struct.pack("<H", len(c)))
    return c


DEVICE = [18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x83, 0x04, 0x11, 0xDF, 0x00, 0x02, 1, 2, 3, 1]
write("dfu_replies", "configuration-tfa-mp15", [2] + configuration(6, functional()))
write("dfu_replies", "configuration-uboot", [2] + configuration(7, functional(transfer=4096)))
write("dfu_replies", "device-descriptor", [2] + DEVICE)

MP15_ROM = ["@Partition0 /0x00/1*256Ke", "@FSBL /0x01/1*1Me", "@Partition2 /0x02/1*1Me", "@Partition3 /0x03/1*16Me",
            "@Partition4 /0x04/1*16Me", "@virtual /0xF1/1*512Ba"]
UBOOT = ["@fsbl1/0x04/1*256Ke", "@fsbl2/0x05/1*256Ke", "@fip/0x06/1*4Me", "@rootfs/0x10/1*3Ge", "@virtual/0xf1/1*512Be",
         "@PMIC/0xf4/1*8Be", "@FlashLayout/0x00/1*256Ke", "@DDR FIP /0x02/1*32Ke", "@FIP /0x03/1*16Me",
         "@SSBL /0x03/1*16Me", "@OTP/0xf2/1*544Be"]
PRODUCTS = ["DFU in HS Mode @Device ID /0x500, @Revision ID /0x0000",
            "DFU @Device ID /0x501, @Revision ID /0x1003, @Name /STM32MP135F Rev.Y,",
            "USB download gadget@Device ID /0x505, @Revision ID /0x2000, @Name /STM32MP257F Rev.B,",
            "USB download gadget@Device ID /0x500, @Revision ID /0x0000", "STM32  BOOTLOADER"]
ERRORS = ["fip (0x6): MMC erase failed", "rootfs (0x10): Invalid partition", "FIP Header check failed for phase 3",
          "Layout: invalid FlashLayout", "Wrong sequence number"]
write("dfu_replies", "strings", [3] + list("\n".join(MP15_ROM + UBOOT + PRODUCTS + ERRORS + ["3-1.2", "1-2.4.1"]).encode()))


def get_phase(phase, address=0xC000_0000, offset=0, extra=b""):
    return [phase] + list(struct.pack("<II", address, offset)) + list(extra)


write("dfu_replies", "getphase-tfa-ssbl", [4] + get_phase(0x03))
write("dfu_replies", "getphase-tfa-detach", [4] + get_phase(0x00, 0xFFFF_FFFF, 0, b"\x01"))
write("dfu_replies", "getphase-uboot-no-layout", [4] + get_phase(0x00, 0xC200_0000, 0, b"\x00"))
write("dfu_replies", "getphase-uboot-resume", [4] + get_phase(0x12, 0xFFFF_FFFF, 0x4000))
write("dfu_replies", "getphase-tfa-error", [4] + get_phase(0xFF, 0xFFFF_FFFF, 0, b"FIP Header check failed for phase 3\0\0"))
write("dfu_replies", "getphase-uboot-error", [4] + get_phase(0xFF, 0xFFFF_FFFF, 0, b"fip (0x6): MMC erase failed"))


def sized(text, limit=128):
    b = text.encode()
    assert len(b) < limit
    return [len(b)] + list(b)


def raw_device(product, alternates, func):
    """The harness's Script::raw_device layout."""
    conf = configuration(len(alternates), func)
    assert len(conf) < 256
    out = [len(DEVICE)] + DEVICE + [len(conf)] + conf + [len(alternates)]
    for i, a in enumerate(alternates):
        out += [4 + i] + sized(a)
    return out + sized("1-1.3") + [7] + sized("004200343338510534383330") + sized(product)


write("dfu_replies", "device-rom-mp15", [5] + raw_device(PRODUCTS[0], MP15_ROM[:6], functional()))
write("dfu_replies", "device-uboot", [5] + raw_device(PRODUCTS[2], UBOOT[:6], functional(transfer=4096)))

# ---------------------------------------------------------------- dfu_replies, whole flashes for the sequencer
# Each operation's first byte is its outcome (4: success); see Device in the harness.
OK = 4


def describe(stage, address, soc_same=True):
    """stage: 0 ROM, 2 TF-A, 4 U-Boot with the layout alternate, 0x44 U-Boot with the job's partitions."""
    return [OK, stage | (0x10 if soc_same else 0), address, 0]


def status(state, poll=None):
    return [OK, 0x00, state] if poll is None else [OK, 0x40, state, poll]


def query(phase, extra=None):
    s = [OK] + status(2)  # SET_INTERFACE 0xF1, GETSTATUS: dfuIDLE
    if extra is None:
        return s + [OK, 0x00, phase]
    if extra in (0, 1):
        return s + [OK, 0x01, phase, extra]
    return s + [OK, 0x02, phase] + sized(extra)


def download(blocks=1, tfa=False):
    s = [OK]  # SET_INTERFACE
    for _ in range(blocks):
        s += [OK] + (status(3) if tfa else []) + status(5)  # DNLOAD, (dfuDNLOAD-SYNC), dfuDNLOAD-IDLE
    s += [OK] + (status(7, 1) if tfa else []) + status(2)  # zero-length DNLOAD, (dfuMANIFEST 1 ms), dfuIDLE
    return s


def job(soc, ddr, finish_detach, partitions_mask):
    return [soc | (0x10 if ddr else 0) | (0x20 if finish_detach else 0), 0x01, partitions_mask, 0]


# Partition ids of the mask bits: 0x04, 0x05, 0x06, 0x10, 0x11, 0xF0. Mask 0x09: 0x04 and 0x10.
uboot_tail = (query(0x00, 0) + download() + query(0x00, 1) + [OK]  # layout, then DETACH
              + describe(0x44, 3) + query(0x04) + download() + query(0x10) + download() + query(0xFE) + [OK, OK])
mp15 = (job(0, False, False, 0x09) + describe(0, 1) + download(tfa=True)  # ROM takes the FSBL
        + describe(2, 1)  # TF-A on the ROM's connection
        + query(0x03) + download(tfa=True) + query(0x00, 1) + [OK]  # FIP, then detach
        + describe(4, 2) + uboot_tail)
write("dfu_replies", "flash-mp15", [6] + mp15)
mp25 = (job(2, True, True, 0x09) + describe(0, 1) + download(tfa=True)
        + describe(0, 1) + query(0x00, 1) + [OK]  # the ROM asks GetPhase, is detached
        + describe(2, 2) + query(0x02) + download(tfa=True) + query(0x00, 1) + [OK]  # DDR firmware
        + describe(2, 3) + query(0x03) + download(tfa=True) + query(0x00, 1) + [OK]  # FIP
        + describe(4, 4) + uboot_tail)
write("dfu_replies", "flash-mp25", [6] + mp25)
write("dfu_replies", "flash-tfa-error", [6] + job(1, False, False, 0x01) + describe(0, 1) + download(tfa=True) + describe(2, 2)
      + query(0x03) + download(tfa=True) + query(0xFF, "FIP Header check failed for phase 3"))
write("dfu_replies", "flash-uboot-error-names-partition", [6] + job(0, False, False, 0x0F) + describe(0x44, 1)
      + query(0x04) + download() + query(0xFF, "fip (0x6): MMC erase failed"))
# GETSTATUS says errWRITE (raw 6 bytes), then GetPhase explains.
write("dfu_replies", "flash-errwrite-explained", [6] + job(0, False, False, 0x01) + describe(0x44, 1)
      + query(0x04) + [OK, OK, OK, 0x80, 0x03, 0, 0, 0, 10, 0] + query(0xFF, "DFU write error"))
# The ROM keeps asking for the FSBL after its manifestation: rejected.
write("dfu_replies", "flash-rom-rejects", [6] + job(1, False, False, 0) + describe(0, 1) + download(tfa=True)
      + (describe(0, 1) + query(0x01)) * 31)
# Interrupted after a few steps.
write("dfu_replies", "flash-interrupted", [6, 0, 0x01, 0x09, 2] + mp15[4:])
