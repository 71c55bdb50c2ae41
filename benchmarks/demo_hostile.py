"""The web demo against hostile clients: figures, no pass/fail.

Usage: ``python benchmarks/demo_hostile.py [--repo PATH] [--port P] [--flood N] [--size-mb M]
[--timeout S] [--uploads-per-minute N] [--cache-quota-mb N] [--json PATH]``. Starts
``python app.py --port P`` from ``--repo`` (default: this checkout; another checkout or a
``git worktree`` measures older code) three times, each with its own ``GRADIO_TEMP_DIR``
(ports P, P+1, P+2; ``--cache-quota-mb`` is passed to all three, ``--uploads-per-minute`` to the
first two; ``--phases`` picks some), and measures:

1. hostile: /classify of an uploaded photo alone (after a warm-up call; median of
   ``--repeats``), then again while /classify calls naming /etc/passwd, a 1 GiB sparse file,
   /dev/zero and a FIFO (raw paths, without Gradio's file meta; ``--hostile`` sets which and their
   queue order) are queued before it; each call's seconds and message, "timed out after S s"
   past ``--timeout``;
2. the server's peak RSS (VmHWM from /proc) before and after those calls; a watcher kills the
   server if its RSS passes ``--rss-limit-mb`` (reading /dev/zero whole grows without bound);
3. flood: N uploads of M MiB from one client, ``--flood-workers`` at a time: HTTP status
   codes, seconds, and the size of GRADIO_TEMP_DIR afterwards; once with the server's rate
   limit ("flood") and once with ``--uploads-per-minute 1000`` ("flood-fast", ``--flood-rate``);
4. SIGTERM sent to each server still running at the end of its phase: exit code, seconds,
   and the files left in its GRADIO_TEMP_DIR.

Whatever happens, every server is killed, the FIFO removed and the temporary folder deleted
at the end. Prints a table; ``--json PATH`` also writes every figure to PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
UPLOAD = "/gradio_api/upload"
CALL = "/gradio_api/call/classify"
MIB = 1024 * 1024
PHOTO = Path("keras_sb/demo_examples/parachute.jpg")  # relative to --repo
HOSTILE = ("passwd", "sparse", "zero", "fifo")
PHASES = ("hostile", "flood", "flood-fast")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT,
                        help="checkout whose app.py is served (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7870,
                        help="first port; the three servers use P, P+1, P+2 (default: "
                        "%(default)s)")
    parser.add_argument("--flood", type=int, default=30, metavar="N",
                        help="uploads in each flood (default: %(default)s)")
    parser.add_argument("--size-mb", type=float, default=19, metavar="M",
                        help="MiB per flood upload (default: %(default)s)")
    parser.add_argument("--flood-workers", type=int, default=4,
                        help="flood uploads in flight at once (default: %(default)s)")
    parser.add_argument("--flood-rate", type=int, default=1000,
                        help="--uploads-per-minute of the second flood (default: %(default)s)")
    parser.add_argument("--uploads-per-minute", type=int,
                        help="passed to app.py for the hostile phase and the first flood")
    parser.add_argument("--cache-quota-mb", type=float,
                        help="passed to app.py for every server")
    parser.add_argument("--timeout", type=float, default=30,
                        help="seconds each request may take (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed /classify calls of the photo alone (default: %(default)s)")
    parser.add_argument("--sparse-mb", type=int, default=1024,
                        help="size of the sparse file in MiB (default: %(default)s)")
    parser.add_argument("--rss-limit-mb", type=float, default=4096,
                        help="kill a server whose RSS passes this (default: %(default)s)")
    parser.add_argument("--startup-timeout", type=float, default=240,
                        help="seconds a server may take to answer (default: %(default)s)")
    parser.add_argument("--hostile", type=lambda text: text.split(","),
                        default=list(HOSTILE), metavar="A,B,..",
                        help="hostile calls, in their queue order (default: %(default)s)")
    parser.add_argument("--phases", type=lambda text: text.split(","), default=list(PHASES),
                        metavar="A,B,..", help="phases to run (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write figures here")
    args = parser.parse_args()
    for option, names, known in (("--hostile", args.hostile, HOSTILE),
                                 ("--phases", args.phases, PHASES)):
        if set(names) - set(known):
            parser.error(f"{option}: choose from {','.join(known)}, not {','.join(names)}")
    return args


def short(text: object, width: int = 90) -> str:
    text = re.sub(r"[*`_]|⚠️", "", " ".join(str(text).split())).strip()
    return text if len(text) <= width else text[:width - 3] + "..."


def tree_size(folder: Path) -> tuple[int, int]:
    """(regular files, bytes) under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return len(files), sum(p.stat().st_size for p in files)


class Server:
    """``python app.py --port PORT *options`` in ``repo`` with its own GRADIO_TEMP_DIR, and a
    watcher that kills it past ``rss_limit_mb``."""

    def __init__(self, repo: Path, port: int, options: list[str], work: Path,
                 rss_limit_mb: float) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.temp = work / f"gradio-temp-{port}"
        self.temp.mkdir()
        self.log_path = work / f"server-{port}.log"
        self.command = ["python", "app.py", "--port", str(port), *options]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *self.command[1:]], cwd=repo, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "GRADIO_TEMP_DIR": str(self.temp)})
        self.rss_limit_mb, self.max_rss_mb, self.killed_for_rss = rss_limit_mb, 0.0, False
        self.watching = True
        threading.Thread(target=self._watch, daemon=True).start()

    def status_mib(self, field: str) -> float | None:
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        found = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
        return int(found[1]) / 1024 if found else None

    def _watch(self) -> None:
        while self.watching and self.proc.poll() is None:
            rss = self.status_mib("VmRSS")
            if rss is not None:
                self.max_rss_mb = max(self.max_rss_mb, rss)
                if rss > self.rss_limit_mb:
                    self.killed_for_rss = True
                    self.kill()
                    return
            time.sleep(0.02)

    def log_tail(self, lines: int = 3) -> str:
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def wait_ready(self, timeout: float) -> str | None:
        """None once /config answers; else why not."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return f"exited {self.proc.returncode}: {short(self.log_tail(2), 160)}"
                try:
                    if http.get("/config").status_code == 200:
                        return None
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
        return f"no answer within {timeout:.0f} s"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def sigterm(self, timeout: float = 60) -> dict:
        """SIGTERM; exit code, seconds, files left in GRADIO_TEMP_DIR."""
        if not self.alive():
            return {"exit": self.proc.returncode, "note": "not running"}
        self.watching = False
        start = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = f"did not exit within {timeout:.0f} s (killed)"
        files, size = tree_size(self.temp)
        return {"exit": code, "seconds": round(time.perf_counter() - start, 2),
                "files_left": files, "mib_left": round(size / MIB, 1),
                "left": sorted(p.name[:16] for p in self.temp.iterdir())[:3]}

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # the group this script started
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def parse_events(text: str) -> tuple[str, object]:
    """("complete" | "error" | "none", data) of a /call stream."""
    found = re.findall(r"event: (complete|error)\ndata: (.*)", text)
    if not found:
        return "none", text[-200:]
    kind, data = found[-1]
    try:
        return kind, json.loads(data)
    except json.JSONDecodeError:
        return kind, data


def call_classify(url: str, value: dict, timeout: float, out: dict) -> None:
    """One /classify call (Gradio's HTTP API) of ``value``; fills ``out`` when done."""
    start = time.perf_counter()
    try:
        with httpx.Client(base_url=url, timeout=timeout) as http:
            call = http.post(CALL, json={"data": [value, 0.38]})
            if call.status_code != 200:
                out.update(seconds=round(time.perf_counter() - start, 3),
                           message=f"HTTP {call.status_code}: {short(call.text)}")
                return
            text = ""
            with http.stream("GET", f"{CALL}/{call.json()['event_id']}") as events:
                for chunk in events.iter_text():
                    text += chunk
        kind, data = parse_events(text)
        if kind == "complete":
            label, _, status = data
            top = label.get("label") if isinstance(label, dict) else None
            message = f"classified: {top}" if top else short(status)
            out.update(classified=bool(top))
        elif kind == "error":
            message = f"error: {short(data) if data else '(no message)'}"
        else:
            message = f"no result: {short(data)}"
    except Exception as error:  # reported, whatever it is
        message = f"failed: {type(error).__name__}: {short(error, 60)}"
    out.update(seconds=round(time.perf_counter() - start, 3), message=message)


def timed_calls(url: str, values: list[dict], timeout: float, gap: float = 0.1) -> list[dict]:
    """Start the calls in order, ``gap`` s apart (their queue order), and wait for each at
    most ``timeout`` s from its start."""
    results, threads = [], []
    for value in values:
        out: dict = {"started": time.monotonic()}
        thread = threading.Thread(target=call_classify, args=(url, value, timeout, out),
                                  daemon=True)
        thread.start()
        results.append(out)
        threads.append(thread)
        time.sleep(gap)
    answers = []
    for out, thread in zip(results, threads, strict=True):
        thread.join(max(0.0, out["started"] + timeout - time.monotonic()))
        answers.append({"seconds": None, "message": f"timed out after {timeout:g} s"}
                       if thread.is_alive() else  # a copy: the thread may still write later
                       {key: value for key, value in out.items() if key != "started"})
    return answers


def upload(http: httpx.Client, name: str, content: bytes) -> httpx.Response:
    return http.post(UPLOAD, files={"files": (name, content)})


def hostile_phase(server: Server, args: argparse.Namespace, work: Path) -> dict:
    fifo, sparse = work / "fifo", work / "sparse.png"
    os.mkfifo(fifo)
    with open(sparse, "wb") as file:
        file.truncate(args.sparse_mb * MIB)
    paths = {"passwd": "/etc/passwd", "sparse": str(sparse), "zero": "/dev/zero",
             "fifo": str(fifo)}
    with httpx.Client(base_url=server.url, timeout=args.timeout) as http:
        answer = upload(http, "photo.jpg", (args.repo / PHOTO).read_bytes())
    if answer.status_code != 200:
        return {"error": f"photo upload: HTTP {answer.status_code} {short(answer.text)}"}
    photo = {"path": answer.json()[0], "meta": {"_type": "gradio.FileData"}}
    first = timed_calls(server.url, [photo], args.timeout)[0]
    alone = [timed_calls(server.url, [photo], args.timeout)[0] for _ in range(args.repeats)]
    hwm_before = server.status_mib("VmHWM")
    calls = timed_calls(server.url, [{"path": paths[name]} for name in args.hostile] + [photo],
                        args.timeout)
    hwm_after = server.status_mib("VmHWM")
    seconds = [out["seconds"] for out in alone if out["seconds"] is not None]
    return {
        "first_call": first,
        "alone_median_s": round(statistics.median(seconds), 3) if seconds else None,
        "alone": alone,
        "hostile": dict(zip(args.hostile, calls[:-1], strict=True)),
        "photo_during": calls[-1],
        "rss_mib": {"hwm_before": hwm_before, "hwm_after": hwm_after,
                    "max_seen": round(server.max_rss_mb, 1),
                    "killed_for_rss": server.killed_for_rss, "limit": args.rss_limit_mb},
    }


def flood_phase(server: Server, args: argparse.Namespace) -> dict:
    size = int(args.size_mb * MIB)
    zeros = bytes(size - 16)

    with httpx.Client(base_url=server.url, timeout=args.timeout,
                      limits=httpx.Limits(max_connections=args.flood_workers)) as http:
        def one(_: int) -> tuple[int | str, str]:
            try:
                answer = upload(http, "flood.png", os.urandom(16) + zeros)
                return answer.status_code, short(answer.text, 90)
            except Exception as error:
                return type(error).__name__, short(error, 60)

        start = time.perf_counter()
        with ThreadPoolExecutor(args.flood_workers) as pool:
            answers = list(pool.map(one, range(args.flood)))
        seconds = time.perf_counter() - start
    codes = Counter(code for code, _ in answers)
    messages = {}
    for code, text in answers:
        if code != 200:
            messages.setdefault(str(code), text)
    files, cached = tree_size(server.temp)
    return {"uploads": args.flood, "mib_each": args.size_mb, "seconds": round(seconds, 2),
            "codes": {str(code): count for code, count in sorted(codes.items(), key=str)},
            "refusals": messages, "temp_files": files, "temp_mib": round(cached / MIB, 1)}


def fmt_call(out: dict) -> str:
    seconds = "" if out.get("seconds") is None else f"{out['seconds']:6.2f} s  "
    return f"{seconds}{out['message']}"


def report(results: dict) -> None:
    print(f"\nrepo {results['repo']} ({results['commit']}), keras_sb from "
          f"{results['keras_sb']}")
    for name, phase in results["phases"].items():
        print(f"\n== {name}: {' '.join(phase['command'])}")
        if "start_error" in phase:
            print(f"   server did not start: {phase['start_error']}")
            continue
        figures = phase.get("figures", {})
        if "error" in figures:
            print(f"   {figures['error']}")
        if "alone" in figures:
            print(f"   photo, first call       {fmt_call(figures['first_call'])}")
            print(f"   photo alone (median {len(figures['alone'])})  "
                  f"{figures['alone_median_s']:6.2f} s")
            for hostile, out in figures["hostile"].items():
                print(f"   hostile {hostile:<15} {fmt_call(out)}")
            print(f"   photo during hostile    {fmt_call(figures['photo_during'])}")
            rss = figures["rss_mib"]
            killed = (f"; KILLED by the benchmark at RSS > {rss['limit']:g} MiB"
                      if rss["killed_for_rss"] else "")
            hwm = ("?" if rss["hwm_before"] is None else f"{rss['hwm_before']:.0f}",
                   "?" if rss["hwm_after"] is None else f"{rss['hwm_after']:.0f}")
            print(f"   peak RSS (VmHWM)        {hwm[0]} -> {hwm[1]} MiB "
                  f"(max VmRSS seen {rss['max_seen']:.0f} MiB){killed}")
        if "codes" in figures:
            codes = ", ".join(f"{code} x{count}" for code, count in figures["codes"].items())
            print(f"   flood {figures['uploads']} x {figures['mib_each']:g} MiB  "
                  f"{figures['seconds']:.1f} s: {codes}")
            for code, text in figures["refusals"].items():
                print(f"     {code}: {text}")
            print(f"   GRADIO_TEMP_DIR after   {figures['temp_files']} files, "
                  f"{figures['temp_mib']:.1f} MiB")
        stop = phase.get("sigterm")
        if stop:
            if "note" in stop:
                print(f"   SIGTERM                 {stop['note']} (exit {stop['exit']})")
            else:
                print(f"   SIGTERM                 exit {stop['exit']} in {stop['seconds']} s; "
                      f"left {stop['files_left']} files, {stop['mib_left']} MiB "
                      f"({', '.join(stop['left']) or 'empty'})")


def main() -> int:
    args = parse_args()
    args.repo = args.repo.resolve()
    spec = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u; "
         "print(u.find_spec('keras_sb').origin)"], cwd=args.repo, capture_output=True,
        text=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.repo,
                            capture_output=True, text=True).stdout.strip()
    results: dict = {"repo": str(args.repo), "commit": commit or "?",
                     "keras_sb": spec.stdout.strip() or short(spec.stderr),
                     "host": platform.node(), "cpus": os.cpu_count(),
                     "settings": {k: str(v) for k, v in vars(args).items()}, "phases": {}}
    common = ([] if args.cache_quota_mb is None
              else ["--cache-quota-mb", f"{args.cache_quota_mb:g}"])
    limited = common + ([] if args.uploads_per_minute is None
                        else ["--uploads-per-minute", str(args.uploads_per_minute)])
    plan = [("hostile", limited, hostile_phase), ("flood", limited, flood_phase),
            ("flood-fast", common + ["--uploads-per-minute", str(args.flood_rate)],
             flood_phase)]
    plan = [step for step in plan if step[0] in args.phases]
    work = Path(tempfile.mkdtemp(prefix="demo-hostile-"))
    servers: list[Server] = []
    try:
        for offset, (name, options, phase) in enumerate(plan):
            server = Server(args.repo, args.port + offset, options, work, args.rss_limit_mb)
            servers.append(server)
            entry: dict = {"command": server.command}
            results["phases"][name] = entry
            print(f"[{time.strftime('%H:%M:%S')}] {name}: starting {' '.join(server.command)}",
                  file=sys.stderr, flush=True)
            start = time.perf_counter()
            problem = server.wait_ready(args.startup_timeout)
            entry["startup_s"] = round(time.perf_counter() - start, 1)
            if problem:
                entry["start_error"] = problem
                server.kill()
                continue
            args_phase = (server, args, work) if phase is hostile_phase else (server, args)
            entry["figures"] = phase(*args_phase)
            entry["sigterm"] = server.sigterm()
            server.kill()
    finally:
        for server in servers:
            server.kill()
        fifo = work / "fifo"
        if fifo.exists():
            fifo.unlink()
        shutil.rmtree(work, ignore_errors=True)
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
