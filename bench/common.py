"""Helpers shared by the benchmarks: a corpus of real multilingual passages and result writing."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from evals.xquad import paragraphs as load_paragraphs

RESULTS = Path(__file__).resolve().parent / "results"


def write_passages(folder: Path, count: int, languages: tuple[str, ...] = ("de", "ar", "ru", "es", "zh", "tr", "el", "hi", "vi", "th", "ro", "en")) -> int:
    """`count` XQuAD paragraphs as .txt articles, languages assigned round-robin."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = {lang: load_paragraphs(lang) for lang in languages}
    for i in range(count):
        lang = languages[i % len(languages)]
        paragraphs = texts[lang]
        (folder / f"xquad-{lang}-{i:05d}.txt").write_text(paragraphs[i % len(paragraphs)], encoding="utf-8")
    return count


def save(name: str, result: dict, markdown: str) -> Path:
    """Write `<name>.json` and `<name>.md` under bench/results, stamped with when and where."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown + "\n", encoding="utf-8")
    return RESULTS / f"{name}.md"


def load_average() -> list[float]:
    """1, 5 and 15 min load averages: the machine is shared, so every result says how busy it was."""
    return [round(x, 2) for x in os.getloadavg()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_status_mb(pid: int | str, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise KeyError(field)


def reset_peak_rss(pid: int | str = "self") -> None:
    """Restart a process's peak-RSS count (Linux), so each phase of a run gets its own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory since the process started or since `reset_peak_rss`."""
    return _proc_status_mb(pid, "VmHWM")


def rss_mb(pid: int | str = "self") -> float:
    return _proc_status_mb(pid, "VmRSS")


def disk_mb(path: Path) -> float:
    """What `du` reports for a folder (allocated blocks, not apparent sizes)."""
    blocks = sum(os.lstat(Path(root) / name).st_blocks for root, _, names in os.walk(path) for name in names)
    return round(blocks * 512 / 1048576, 1)


class ChromaServer:
    """`chroma run --path DIR` on a loopback port, as a user starts it; restartable to measure a cold load."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path, self.host, self.port = path, "127.0.0.1", port or free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ChromaServer":
        chroma = Path(sys.executable).with_name("chroma")
        self.proc = subprocess.Popen([str(chroma), "run", "--path", str(self.path), "--host", self.host, "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"chroma run exited at start (code {self.proc.returncode})") from None
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("chroma run did not listen within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps accepting connections but never answers, like a hung one."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def __enter__(self) -> "ChromaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
