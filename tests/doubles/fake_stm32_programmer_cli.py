#!/usr/bin/env python3
"""TEST DOUBLE of ST's STM32_Programmer_CLI. It is NOT the programmer and flashes nothing.

STM32_Programmer_CLI is closed and cannot be installed here, so stm32mp-imager's tests run this program in its place
(`stm32mp-imager flash --programmer tests/doubles/fake_stm32_programmer_cli.py ...`). It replays the shapes of the
programmer's published output, kept in tests/fixtures/programmer/ (each fixture says where its text comes from),
and checks that it is called the way the real programmer expects to be called.

Behaviour comes from a scenario file, a JSON object named by $FAKE_STM32_PROGRAMMER_SCENARIO:

    {
      "version": "version_2.11.0.txt",          fixture printed for --version
      "list": "list_usb_3.txt",                 fixture printed for -l usb (also: which boards exist)
      "list_fails": true,                       -l usb prints a FAKE-PROGRAMMER message and exits 1 instead
      "flash": "success_guide_v2.2.0.txt",      fixture replayed for -c ... -w LAYOUT
      "flash_by_serial": {"SN": "fixture"},     per-board fixture, by the selected board's serial number
      "calls": "/tmp/x/calls.jsonl",            every invocation appended here (argv, cwd, pid, time)
      "delay": 0.002,                           seconds between two redraws of a progress bar
      "query_sleep": 1.5,                       seconds --version and -l usb take before they answer
      "barrier": {"fifo": "/tmp/x/gate",        a rendezvous between two boards' runs, without timing: the run
                  "wait": "SN1",                for board SN1 opens the FIFO for reading (which blocks) before it
                  "release": "SN2"},            replays, the run for SN2 opens it for writing when it starts
      "fixtures": "/path"                       fixture folder (default: ../fixtures/programmer beside this file)
    }

Arguments it accepts, as the real programmer does: `--version`; `-l usb`; `-c port=usbN -w FILE` or
`-c port=usb sn=SERIAL -w FILE`. For -w it checks that the board exists in the list fixture, that FILE exists in the
current folder and that every binary the layout names exists relative to the current folder (the real programmer
resolves them there). Anything else ends with status 97 and a "FAKE-PROGRAMMER:" message, never imitating a real one.

Fixture syntax: lines starting with `#|` are notes; lines starting with `@` are directives:
    @exit N                 exit with status N (the default at the end is 0)
    @hang                   sleep forever
    @partial-progress N     draw a progress bar up to N % (\\r-redrawn) and stop there, without a newline
    @ignore-sigterm         ignore SIGTERM (only SIGKILL ends it)
    @spawn-grandchild       start a sleeping child in the same process group (its pid goes to the calls file)
    @to stderr|stdout       where the next lines go
    @sleep S                pause
Every other line is printed verbatim; a completed bar (`[====...] 100%`) is drawn as a \\r-redrawn bar first. The
guide's serial number 004200343338510534383330 is replaced by the selected board's.
"""

import json
import os
import signal
import subprocess
import sys
import time

GUIDE_SERIAL = "004200343338510534383330"
BAR = 50


def die(message, status=97):
    sys.stderr.write("FAKE-PROGRAMMER: %s\n" % message)
    sys.stderr.flush()
    sys.exit(status)


def load_scenario():
    path = os.environ.get("FAKE_STM32_PROGRAMMER_SCENARIO")
    if not path:
        die("this is a test double of STM32_Programmer_CLI; set FAKE_STM32_PROGRAMMER_SCENARIO to a scenario file")
    with open(path, encoding="utf-8") as f:
        scenario = json.load(f)
    here = os.path.dirname(os.path.realpath(__file__))
    scenario.setdefault("fixtures", os.path.join(here, "..", "fixtures", "programmer"))
    return scenario


def log_call(scenario, entry):
    calls = scenario.get("calls")
    if not calls:
        return
    entry = dict(entry, pid=os.getpid(), time=time.time())
    with open(calls, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def fixture_lines(scenario, name):
    with open(os.path.join(scenario["fixtures"], name), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if not line.startswith("#|")]


def listed_boards(scenario):
    """(index, serial) of each Device Index block of the list fixture."""
    boards = []
    for line in fixture_lines(scenario, scenario.get("list", "list_usb_1.txt")):
        key, _, value = line.partition(":")
        key = " ".join(key.split()).lower()
        if key == "device index":
            boards.append([int("".join(c for c in value if c.isdigit()) or 0), ""])
        elif key == "serial number" and boards:
            boards[-1][1] = value.strip()
    return boards


def write(stream, text):
    stream.write(text)
    stream.flush()


def draw(stream, percent, delay, end):
    filled = BAR * percent // 100
    write(stream, "[" + "=" * filled + " " * (BAR - filled) + "] %d%% " % percent + end)
    if delay:
        time.sleep(delay)


def replay(scenario, name, serial):
    delay = float(scenario.get("delay", 0.002))
    stream = sys.stdout
    for line in fixture_lines(scenario, name):
        if line.startswith("@"):
            word, _, arg = line[1:].partition(" ")
            arg = arg.strip()
            if word == "exit":
                sys.exit(int(arg))
            elif word == "hang":
                while True:
                    time.sleep(3600)
            elif word == "partial-progress":
                target = int(arg)
                for p in list(range(0, target, max(1, target // 5))) + [target]:
                    draw(stream, p, delay, "\r")
            elif word == "ignore-sigterm":
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            elif word == "spawn-grandchild":
                child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(3600)"])
                log_call(scenario, {"grandchild": child.pid})
            elif word == "to":
                stream = sys.stderr if arg == "stderr" else sys.stdout
            elif word == "sleep":
                time.sleep(float(arg))
            else:
                die("unknown directive in %s: %s" % (name, line), 98)
            continue
        stripped = line.strip()
        if stripped.startswith("[=") and stripped.rstrip().endswith("100%"):
            for p in range(0, 100, 10):
                draw(stream, p, delay, "\r")
        write(stream, line.replace(GUIDE_SERIAL, serial) + "\n")
    sys.exit(0)


def flash(scenario, argv):
    port = None
    serial = None
    layout = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-c":
            i += 1
            while i < len(argv) and not argv[i].startswith("-"):
                key, _, value = argv[i].partition("=")
                if key == "port":
                    port = value
                elif key == "sn":
                    serial = value
                else:
                    die("unexpected connect parameter %r" % argv[i])
                i += 1
            continue
        if a == "-w":
            if i + 1 >= len(argv):
                die("-w needs a file")
            layout = argv[i + 1]
            i += 2
            continue
        die("unexpected argument %r in %r" % (a, argv))
    if port is None or layout is None:
        die("expected -c port=... and -w LAYOUT, got %r" % argv)
    boards = listed_boards(scenario)
    if port.lower() == "usb":
        if not serial:
            die("port=usb without sn=")
        matches = [b for b in boards if b[1].lower() == serial.lower()]
        if len(matches) != 1:
            die("sn=%s matches %d listed boards" % (serial, len(matches)))
        board = matches[0]
    elif port.lower().startswith("usb") and port[3:].isdigit():
        index = int(port[3:])
        matches = [b for b in boards if b[0] == index]
        if not matches:
            die("port=%s: no such board in the list fixture" % port)
        board = matches[0]
        if serial and serial.lower() != board[1].lower():
            die("port=%s is serial %s, not sn=%s" % (port, board[1], serial))
    else:
        die("port=%s is not a USB port" % port)
    if not os.path.isfile(layout):
        die("layout %s not found from %s" % (layout, os.getcwd()))
    with open(layout, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = [x for x in line.rstrip("\r\n").split("\t") if x]
            if not fields or fields[0].startswith("#") or len(fields) < 7 or fields[6] == "none":
                continue
            if not os.path.isfile(fields[6]):
                die("binary %s of %s not found from %s" % (fields[6], layout, os.getcwd()))
    name = scenario.get("flash_by_serial", {}).get(board[1], scenario.get("flash", "success_guide_v2.2.0.txt"))
    barrier(scenario, board[1])
    replay(scenario, name, board[1])


def barrier(scenario, serial):
    """The scenario's rendezvous: the waiting board blocks until the releasing board's run has started."""
    b = scenario.get("barrier")
    if not b or serial not in (b.get("wait"), b.get("release")):
        return
    try:
        os.mkfifo(b["fifo"])
    except FileExistsError:
        pass
    if serial == b.get("wait"):
        with open(b["fifo"], encoding="utf-8") as f:
            f.read()
        log_call(scenario, {"passed_barrier": serial})
    else:
        with open(b["fifo"], "w", encoding="utf-8") as f:
            f.write("go\n")


def main():
    scenario = load_scenario()
    argv = sys.argv[1:]
    log_call(scenario, {"argv": argv, "cwd": os.getcwd()})
    if argv in (["--version"], ["-l", "usb"]) and scenario.get("query_sleep"):
        time.sleep(float(scenario["query_sleep"]))
    if argv == ["--version"]:
        replay(scenario, scenario.get("version", "version_2.11.0.txt"), GUIDE_SERIAL)
    elif argv == ["-l", "usb"]:
        if scenario.get("list_fails"):
            die("-l usb made to fail by the scenario", 1)
        replay(scenario, scenario.get("list", "list_usb_1.txt"), GUIDE_SERIAL)
    elif "-w" in argv:
        flash(scenario, argv)
    else:
        die("unexpected arguments %r" % argv)


if __name__ == "__main__":
    main()
