"""Image header extraction speed on real-size runs, against a bare pydicom loop in the same run.

Generates a real-size synthetic corpus (1024 x 1024 pixels, up to 30 frames: ~30 MB a run) and
hard-links its images under enough names to reach ``--images`` files, so 2,000 files cost about
1 GB of disk, not 60 GB. Then prints images/s for:

- bare:   ``pydicom.dcmread(path, stop_before_pixels=True)`` in one process (the baseline)
- single: ``read_header`` + ``extract_image`` in one process
- pool:   the same in a ``ProcessPoolExecutor`` of ``os.cpu_count()`` workers, fed bounded
          batches (at most two per worker in flight), rows returned to the parent

each the best of ``--repeat`` runs, with the CPU time per image (this process and its workers:
less disturbed than the wall clock on a shared machine, it gives what an idle machine would
reach), and the peak RSS of the parent and of the largest worker. Every file is read once before
timing so that all passes see the same warm page cache. Run: ``.venv/bin/python
benchmarks/bench_images.py [--images 2000] [--batch 100] [--repeat 3]``.

``--headers N`` instead measures the read path of one worker (``read_many``, pseudonymized:
header, row, privacy) over N images of ``benchmarks/xa_corpus.py`` (real-size 5-7 KB headers),
in ms of CPU per image, each pass the best of ``--repeat``, back to back in one process: bare
``dcmread(stop_before_pixels=True)``; the general path (``read_header`` and ``extract_image``,
what every image took before the direct read); the direct read
(:mod:`xrf_assets.core.dicom.direct`, with the general path for what it declines).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import pydicom

from xrf_assets.core.dicom.fast_header import read_fast
from xrf_assets.core.dicom.read import DEFER_SIZE, read_header
from xrf_assets.core.extract.images import extract_image
from xrf_assets.core.ingest import read_file
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.read_file import ReaderContext, read_many
from xrf_assets.synth import SynthConfig, generate


def build_tree(out: Path, images: int) -> list[str]:
    """A real-size corpus whose image files are hard-linked to ``images`` names."""
    config = replace(
        SynthConfig.preset("realsize", seed=1).scaled(1),
        non_dicom_files=0,
        truncated_files=0,
        other_dicom_files=0,
    )
    truth = generate(out / "synth", config)
    sources = [out / "synth" / "dicom" / p for p in truth.images["source_path"]]
    tree = out / "tree"
    paths = []
    for i in range(images):
        rel = f"run{i // 500:02d}/img{i:05d}.dcm"
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        os.link(sources[i % len(sources)], tree / rel)
        paths.append(rel)
    sizes = [s.stat().st_size for s in sources]
    frames = truth.images["number_of_frames"].to_list()
    print(
        f"corpus: {images} files from {len(sources)} distinct runs, mean "
        f"{sum(sizes) / len(sizes) / 1e6:.1f} MB (max {max(sizes) / 1e6:.1f} MB), "
        f"{sum(frames) / len(frames):.1f} frames (max {max(frames)}), 1024 x 1024 x 8 bit"
    )
    return paths


def bare(root: Path, paths: list[str]) -> int:
    for p in paths:
        pydicom.dcmread(root / p, stop_before_pixels=True)
    return len(paths)


def fast_path_files(root: Path, paths: list[str]) -> int:
    """How many files read_header reads through the fast path (the rest go to pydicom)."""
    taken = 0
    for p in paths:
        with open(root / p, "rb") as fp:
            taken += read_fast(fp, DEFER_SIZE) is not None
    return taken


def extract_batch(paths: list[str], root: Path) -> list[dict[str, object]]:
    """``images`` rows of a batch of image files: the parse work of one worker call."""
    return [extract_image(read_header(root / p), p) for p in paths]


def single(root: Path, paths: list[str]) -> int:
    return len(extract_batch(paths, root))


def _batches(paths: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(paths), size):
        yield paths[i : i + size]


def _started(_: int) -> int:
    time.sleep(0.05)  # long enough that every worker takes one
    return os.getpid()


def pool(root: Path, paths: list[str], batch_size: int, workers: int) -> Pass:
    """Bounded submission: at most two batches per worker wait, so memory stays flat.

    The pool is started (and timed) before the work, so the rate is the steady state a long
    ingest sees; the start-up is printed apart.
    """
    rows = 0
    t0 = time.perf_counter()
    gc.freeze()  # forked workers' garbage collector then leaves the parent's pages unshared
    with ProcessPoolExecutor(max_workers=workers) as ex:
        list(ex.map(_started, range(workers)))
        started = time.perf_counter()
        cpu0 = _cpu()
        pending: set[Future[list[dict[str, object]]]] = set()
        for chunk in _batches(paths, batch_size):
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                rows += sum(len(f.result()) for f in done)
            pending.add(ex.submit(extract_batch, chunk, root))
        rows += sum(len(f.result()) for f in pending)
        wall = time.perf_counter() - started
        worker_rss_mb = max(ex.map(_peak_rss_mb, range(workers)))
    cpu = _cpu() - cpu0  # children are counted once the pool has shut them down
    assert rows == len(paths)
    return Pass(rows, wall, cpu, started - t0, worker_rss_mb)


def _peak_rss_mb(_: int) -> float:
    time.sleep(0.05)  # so that every worker answers once
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Pass:
    images: int
    wall_s: float
    cpu_s: float  # this process and its finished children
    startup_s: float = 0.0
    worker_rss_mb: float = 0.0


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def in_process(run: Callable[[], int]) -> Pass:
    cpu0, t0 = _cpu(), time.perf_counter()
    n = run()
    return Pass(n, time.perf_counter() - t0, _cpu() - cpu0)


def _rate(p: Pass) -> float:
    return p.images / p.wall_s


def _cpu_each(p: Pass) -> float:
    return p.cpu_s / p.images


def report(label: str, passes: list[Pass]) -> Pass:
    """The best pass (the machine is shared: the best run is the least disturbed)."""
    best = min(passes, key=lambda p: p.wall_s)
    startup = f", pool start {best.startup_s * 1000:.0f} ms" if best.startup_s else ""
    print(
        f"{label:<40} {_rate(best):7.0f} images/s  {_cpu_each(best) * 1e6:6.0f} us CPU/image"
        f"{startup}   (runs: " + ", ".join(f"{_rate(p):.0f}" for p in passes) + " images/s)"
    )
    return best


def headers(n: int, repeat: int) -> None:
    """CPU per image of the read path: bare loop, general path, direct read (one process)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import xa_corpus

    with tempfile.TemporaryDirectory(prefix="bench_headers_", dir="/tmp") as tmp:
        corpus = xa_corpus.build(Path(tmp), n)
        paths = [
            p
            for p in corpus.paths
            if pydicom.dcmread(corpus.root / p, specific_tags=["Modality"]).Modality != "SR"
        ]
        xa_corpus.warm(corpus)
        ctx = ReaderContext(corpus.root, PrivacySettings("pseudonymize", xa_corpus.KEY.encode()))
        direct = sum(read_file._read_direct(ctx, p, None) is not None for p in paths)
        print(
            f"{len(paths)} xa_corpus images, mean header {corpus.header_bytes_mean / 1e3:.1f} KB;"
            f" read directly: {direct}; load average {os.getloadavg()[0]:.1f}"
        )
        passes: dict[str, list[float]] = {"bare": [], "general": [], "direct": []}
        for _ in range(repeat):
            for label, run in (
                ("bare", lambda: bare(corpus.root, paths)),
                ("general", lambda: [read_file._read_general(ctx, p, None) for p in paths]),
                ("direct", lambda: read_many(ctx, paths)),
            ):
                cpu0 = time.process_time()
                run()
                passes[label].append((time.process_time() - cpu0) / len(paths))
        best = {label: min(v) for label, v in passes.items()}
        for label, text in (
            ("bare", "bare dcmread(stop_before_pixels)"),
            ("general", "general path (read_header + extract_image)"),
            ("direct", "direct read (read_many)"),
        ):
            print(
                f"  {text:<44} {best[label] * 1e3:6.3f} ms CPU/image  "
                f"{best[label] / best['bare']:5.2f}x bare"
            )
        print(f"load average after: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--headers", type=int, default=0, help="xa_corpus images: read path")
    args = parser.parse_args()
    if args.headers:
        headers(args.headers, args.repeat)
        return
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench_images_", dir="/tmp") as tmp:
        with ProcessPoolExecutor(1) as generator:  # keeps the corpus and truth out of this heap
            paths = generator.submit(build_tree, Path(tmp), args.images).result()
        root = Path(tmp) / "tree"
        bare(root, paths)  # warm the page cache for every pass alike
        print(f"fast header path: {fast_path_files(root, paths)} of {len(paths)} files")
        print(f"load average before timing: {os.getloadavg()[0]:.1f} on {workers} CPUs")
        rounds = []  # the three passes back to back, so each round sees one machine state
        for _ in range(args.repeat):
            rounds.append(
                (
                    in_process(lambda: bare(root, paths)),
                    in_process(lambda: single(root, paths)),
                    pool(root, paths, args.batch, workers),
                )
            )
    base = report("bare dcmread(stop_before_pixels) x1", [r[0] for r in rounds])
    one = report("read_header + extract_image x1", [r[1] for r in rounds])
    many = report(f"pool of {workers} workers, batches of {args.batch}", [r[2] for r in rounds])
    print(
        "per round, pool / bare: "
        + ", ".join(f"{_rate(p) / _rate(b):.2f}x" for b, _, p in rounds)
        + "   single / bare: "
        + ", ".join(f"{_rate(o) / _rate(b):.2f}x" for b, o, _ in rounds)
    )
    print(
        f"best of each: single / bare {_rate(one) / _rate(base):.2f}x, pool / bare "
        f"{_rate(many) / _rate(base):.2f}x (goal >= 1.6x on 2 cores), pool / single "
        f"{_rate(many) / _rate(one):.2f}x"
    )
    print(
        f"CPU per image: single / bare {_cpu_each(one) / _cpu_each(base):.2f}x, pool / bare "
        f"{_cpu_each(many) / _cpu_each(base):.2f}x; on {workers} idle CPUs the pool would "
        f"reach {workers * _cpu_each(base) / _cpu_each(many):.2f}x bare"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS: parent {own:.0f} MB, largest pool worker {many.worker_rss_mb:.0f} MB, "
        f"parent + {workers} workers <= {own + workers * many.worker_rss_mb:.0f} MB "
        "(goal < 500 MB)"
    )


if __name__ == "__main__":
    main()
