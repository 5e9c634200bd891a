#!/usr/bin/env python3
"""Benchmark stm32mp-imager against genimage on the same inputs (run it through scripts/bench.sh).

Makes its own inputs with the real tools (mkimage for TF-A and U-Boot, mke2fs -d for the root file system), then
runs, alternating and several times each:
  genimage             genimage 16 on our `genimage-cfg` output (what Buildroot's genimage.sh runs)
  genimage+bmaptool    the same followed by `bmaptool create` (what Buildroot does with BR2_PACKAGE_HOST_BMAP_TOOLS)
  cp --sparse=always   copying the inputs with cp (the floor: the data has to be copied once)
  build --no-bmap      stm32mp-imager build --no-bmap
  build                stm32mp-imager build (image + flash.tsv + .bmap)
and prints the median wall time, peak RSS, allocated bytes of each, and the ratios the project targets.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CASES = {
    # name: (board toml, rootfs size, data in rootfs, image size or None)
    "DK2": ("""[board]
name = "bench-dk2"
soc = "stm32mp15"
[boot]
chain = "trusted"
fsbl = "tf-a.stm32"
ssbl = "u-boot.stm32"
[storage]
media = "sdcard"
image = "sdcard.img"
[[partition]]
name = "rootfs"
image = "rootfs.ext4"
size = "256M"
bootable = true
""", "256M", 40),
    "EV1": ("""[board]
name = "bench-ev1"
soc = "stm32mp15"
[boot]
chain = "trusted"
fsbl = "tf-a.stm32"
ssbl = "u-boot.stm32"
[storage]
media = "emmc"
image = "emmc.img"
size = "4G"
[[partition]]
name = "rootfs"
image = "rootfs.ext4"
size = "3G"
bootable = true
""", "3G", 100),
}


def run(cmd, **kw):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def make_inputs(d, rootfs_size, data_mib):
    payload = os.path.join(d, "payload")
    with open(payload, "wb") as f:
        f.write(os.urandom(200_000))
    run(["mkimage", "-T", "stm32image", "-a", "0x2ffc2500", "-e", "0x2ffc2500", "-d", payload, os.path.join(d, "tf-a.stm32")])
    with open(payload, "wb") as f:
        f.write(os.urandom(740_000))
    run(["mkimage", "-T", "stm32image", "-a", "0xc0100000", "-e", "0xc0100000", "-d", payload, os.path.join(d, "u-boot.stm32")])
    os.remove(payload)
    root = os.path.join(d, "root")
    os.makedirs(root)
    for i in range(data_mib):
        with open(os.path.join(root, f"file{i:03}"), "wb") as f:
            f.write(os.urandom(1 << 20))
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", root, os.path.join(d, "rootfs.ext2"), rootfs_size])
    os.symlink("rootfs.ext2", os.path.join(d, "rootfs.ext4"))
    shutil.rmtree(root)


def measure(cmds, rss_file):
    """Run commands one after the other; wall time (s) of all, peak RSS (KiB) of the largest.

    Peak RSS comes from GNU time (`/usr/bin/time -f %M`): a child forked from this Python process would report
    Python's own RSS as its peak (Linux keeps the pre-exec high-water mark).
    """
    wall, rss = 0.0, 0
    for cmd in cmds:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall += time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')}")
        with open(rss_file) as f:
            rss = max(rss, int(f.read().split()[-1]))
    return wall, rss


def allocated(paths):
    return sum(os.stat(p).st_blocks * 512 for p in paths if os.path.exists(p))


def bench_case(name, imager, runs, workdir):
    board_toml, rootfs_size, data_mib = CASES[name]
    d = os.path.join(workdir, name)
    images = os.path.join(d, "images")
    os.makedirs(images)
    make_inputs(images, rootfs_size, data_mib)
    board = os.path.join(d, "board.toml")
    with open(board, "w") as f:
        f.write(board_toml)
    cfg = os.path.join(d, "genimage.cfg")
    with open(cfg, "w") as f:
        f.write(subprocess.run([imager, "genimage-cfg", board, "--images", images], check=True, capture_output=True, text=True).stdout)
    img_name = "sdcard.img" if name == "DK2" else "emmc.img"
    out = os.path.join(d, "out")
    empty = os.path.join(d, "empty-root")
    os.makedirs(empty)

    def genimage():
        return ["genimage", "--config", cfg, "--inputpath", images, "--outputpath", out, "--rootpath", empty, "--tmppath", os.path.join(d, "tmp")]

    inputs = [os.path.join(images, f) for f in ("tf-a.stm32", "u-boot.stm32", "rootfs.ext4")]
    variants = {
        "genimage": ([genimage()], [img_name]),
        "genimage+bmaptool": ([genimage(), ["bmaptool", "create", "-o", os.path.join(out, img_name + ".bmap"), os.path.join(out, img_name)]], [img_name, img_name + ".bmap"]),
        "cp --sparse=always": ([["cp", "--sparse=always", "-L", p, out] for p in inputs], ["tf-a.stm32", "u-boot.stm32", "rootfs.ext4"]),
        "build --no-bmap": ([[imager, "build", board, "--images", images, "--output", out, "--no-bmap"]], [img_name]),
        "build": ([[imager, "build", board, "--images", images, "--output", out]], [img_name, img_name + ".bmap"]),
    }
    results = {v: [] for v in variants}
    for _ in range(runs):
        for v, (cmds, produced) in variants.items():
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(os.path.join(d, "tmp"), ignore_errors=True)
            os.makedirs(out)
            subprocess.run(["sync"], check=True)
            wall, rss = measure(cmds, os.path.join(d, "rss"))
            counted = produced if v.startswith("cp") else produced[:1]
            results[v].append((wall, rss, allocated([os.path.join(out, p) for p in counted])))
    rows = {}
    for v, rs in results.items():
        rows[v] = (statistics.median(r[0] for r in rs), max(r[1] for r in rs), statistics.median(r[2] for r in rs))
    img_size = os.path.getsize(os.path.join(out, img_name)) if os.path.exists(os.path.join(out, img_name)) else 0
    print(f"\n{name}: image {img_size} bytes, rootfs {rootfs_size} ext4 with {data_mib} MiB of files, {runs} runs each (median wall, max RSS)")
    print(f"  {'variant':<20} {'wall s':>8} {'peak RSS':>12} {'allocated (image; cp: all files)':>34}")
    for v, (w, r, a) in rows.items():
        print(f"  {v:<20} {w:>8.3f} {r / 1024:>8.1f} MiB {a:>20,} bytes")
    g, gb, nb, b = rows["genimage"], rows["genimage+bmaptool"], rows["build --no-bmap"], rows["build"]
    checks = [
        ("build / (genimage + bmaptool create)", b[0] / gb[0], 0.5),
        ("build --no-bmap / genimage", nb[0] / g[0], 1.0),
        ("build peak RSS (MiB)", max(b[1], nb[1]) / 1024, 32),
        ("build allocated / genimage allocated", b[2] / g[2], 1.0),
    ]
    ok = True
    for label, value, target in checks:
        good = value <= target
        ok &= good
        print(f"  {label:<40} {value:7.3f}   target <= {target}   {'ok' if good else 'MISSED'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imager", required=True, help="path of the stm32mp-imager binary (release build)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    ap.add_argument("--workdir", help="where to put inputs and outputs (default: a temporary folder)")
    args = ap.parse_args()
    for tool in ("genimage", "bmaptool", "mkimage", "mke2fs", "cp", "/usr/bin/time"):
        if not shutil.which(tool):
            sys.exit(f"missing {tool}: apt-get install genimage bmap-tools u-boot-tools e2fsprogs time")
    work = args.workdir or tempfile.mkdtemp(prefix="stm32mp-imager-bench-")
    try:
        ok = all([bench_case(c, os.path.abspath(args.imager), args.runs, work) for c in (args.case or ["DK2", "EV1"])])
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
