"""``xrf-dose``: make a synthetic corpus, run the graph headless, print the data dictionary,
receive over DICOM (listen), retrieve from a PACS (pull), look up a study or a patient."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import logging
import os
import sys
import threading
from pathlib import Path


def _synth(args: argparse.Namespace) -> int:
    from xrf_assets.synth import SynthConfig, generate

    out = Path(args.out)
    truth = generate(out, SynthConfig.preset(args.preset, seed=args.seed))
    for name, frame in truth.frames().items():
        print(f"{name:>22}: {frame.height} rows")
    print(f"{'DICOM tree':>22}: {out / 'dicom'}")
    return 0


# Set by console(), the ``xrf-dose`` command: the process is the command's alone, so its heap
# may be frozen and its teardown skipped (not where main() is called from a test or a notebook).
_OWN_PROCESS = False


def _privacy_problem(args: argparse.Namespace) -> str | None:
    """The privacy settings as the run will resolve them, checked before Dagster is imported
    (seconds of start-up): a missing or short key fails at once, in one line."""
    from xrf_assets.core.ingest.privacy import MODE_ENV, PrivacyError
    from xrf_assets.locations import DEMO_INPUT, privacy_for

    input_dir = Path(args.input or os.environ.get("XRF_INPUT_DIR") or DEMO_INPUT)
    try:
        privacy_for(os.environ.get(MODE_ENV) or None, input_dir)
    except PrivacyError as exc:
        return str(exc)
    return None


def _run(args: argparse.Namespace) -> int:
    problem = _privacy_problem(args)
    if problem:
        print(f"xrf-dose run: {problem}", file=sys.stderr)
        return 2
    if _OWN_PROCESS:
        gc.disable()  # imports leave little garbage: no collection walks them while they load
    from xrf_assets.core.ingest.pool import start_reader_server

    # the fork server imports what the readers and the month audit workers need (Dagster's run
    # storage among it) on another core while this process imports the rest
    start_reader_server(also=["pipelines.headless", "dagster._core.storage.sqlite_storage"])
    from pipelines.headless import run_all
    from xrf_assets.resources import XrfSettings

    if _OWN_PROCESS:
        # what the imports made lives as long as the process: kept out of the full collections,
        # each of which walked it all again (~0.4 s of this process's CPU over 40,000 files)
        gc.freeze()
        gc.enable()
    # unset options (None) are resolved from XRF_* when the run uses them, as in the UI
    settings = XrfSettings(
        input_dir=args.input,
        output_dir=args.output,
        full_rebuild=args.full_rebuild or None,
        rooms_file=args.rooms,
        procedures_file=args.procedures,
        drl_file=args.drl,
    )
    summary = run_all(settings)
    print(summary.render())
    if summary.failed_months:
        print(f"audit not published for: {', '.join(summary.failed_months)}", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace) -> int:
    from xrf_assets.assets.report import report_settings
    from xrf_assets.core.report.write import write_report
    from xrf_assets.resources import XrfSettings

    settings = XrfSettings(output_dir=args.output)
    month = args.month
    try:
        files = write_report(settings.store(), month, report_settings(settings), audit_run=False)
    except ValueError as exc:  # a month without a published audit, or not YYYY-MM
        print(f"xrf-dose report: {exc}", file=sys.stderr)
        return 1
    print(f"{'report (HTML)':>22}: {files.html}")
    if files.pdf is None:
        print(f"{'report (PDF)':>22}: skipped: {files.pdf_skipped}")
    else:
        print(f"{'report (PDF)':>22}: {files.pdf}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from schemas.dictionary import README, render_markdown

    text = render_markdown()
    if args.write:
        README.write_text(text, encoding="utf-8")
        print(f"wrote {README}")
    else:
        sys.stdout.write(text)
    return 0


def _network_logging() -> None:
    """Our lines at INFO; pynetdicom's only from WARNING (its debug output dumps data sets)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


def _ae_list(text: str | None) -> tuple[str, ...]:
    return tuple(a.strip() for a in (text or "").split(",") if a.strip())


def _listen(args: argparse.Namespace) -> int:
    from xrf_assets.core.network.listener import ListenerSettings, serve

    _network_logging()
    settings = ListenerSettings(
        input_dir=Path(args.input),
        port=args.port,
        ae_title=args.ae_title,
        host=args.host,
        allow=_ae_list(args.allow),
        grace_s=args.grace,
    )
    counts = serve(settings)
    print(f"received: {dict(counts.by_outcome) or 'nothing'}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from datetime import date

    from xrf_assets.core.network.pull import Pacs, PullError, PullSettings, pull
    from xrf_assets.resources import XrfSettings

    _network_logging()
    state_dir = Path(args.state or XrfSettings().output_path() / "_state" / "pull")
    settings = PullSettings(
        pacs=Pacs.parse(args.pacs),
        since=date.fromisoformat(args.since),
        until=date.fromisoformat(args.until) if args.until else None,
        state_dir=state_dir,
        modalities=tuple(m.upper() for m in _ae_list(args.modality)),
        images=args.images,
        move_to=args.move_to,
        ae_title=args.ae_title,
    )
    try:
        summary = pull(settings)
    except PullError as exc:
        print(f"pull failed: {exc}", file=sys.stderr)
        return 1
    print(summary.render())
    print(f"state: {state_dir}")
    return 1 if summary.failed else 0


def _lookup(args: argparse.Namespace) -> int:
    """``study`` and ``patient``: read the tables of ``--output``, else where ``xrf-dose run``
    writes them ($XRF_OUTPUT_DIR, else the demo output); nothing found is exit 1, one line."""
    from xrf_assets.core.lookup.patient_history import PatientHistory, patient_history
    from xrf_assets.core.lookup.study_card import LookupNotFound, StudyCard, study_card
    from xrf_assets.core.store import TableStore
    from xrf_assets.locations import DEMO_OUTPUT

    root = Path(args.output or os.environ.get("XRF_OUTPUT_DIR") or DEMO_OUTPUT)
    try:
        if not (root / "study_dose").is_dir():
            raise LookupNotFound(f"no study_dose table under {root} (run xrf-dose run first)")
        store = TableStore(root)
        if args.command == "study":
            found: StudyCard | PatientHistory = study_card(store, args.uid)
        else:
            found = patient_history(store, args.id)
    except LookupNotFound as exc:
        print(f"xrf-dose {args.command}: {exc}", file=sys.stderr)
        return 1
    print(found.to_json() if args.json else found.render())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xrf-dose", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a synthetic DICOM corpus with its ground truth")
    p.add_argument("--out", required=True, help="folder for dicom/ and truth/")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--preset",
        choices=["demo", "small", "realsize"],
        default="demo",
        help="demo: 3 rooms, 2 months; small: every hard case, tiny; realsize: 30 MB images",
    )
    p.set_defaults(func=_synth)

    p = sub.add_parser("run", help="materialize ingest, link and every month's audit in-process")
    p.add_argument("--input", help="DICOM root (default: $XRF_INPUT_DIR, else the demo corpus)")
    p.add_argument("--output", help="table root (default: $XRF_OUTPUT_DIR, else the demo output)")
    p.add_argument("--full-rebuild", action="store_true", help="re-read every file")
    p.add_argument("--rooms", help="rooms file, YAML (default: $XRF_ROOMS_FILE, else raw names)")
    p.add_argument("--procedures", help="procedure map, YAML (default: $XRF_PROCEDURES_FILE)")
    p.add_argument("--drl", help="reference levels, YAML (default: $XRF_DRL_FILE, else European)")
    p.set_defaults(func=_run)

    p = sub.add_parser("report", help="write a month's audit report (HTML and PDF) from the tables")
    p.add_argument("--month", required=True, help="the audited month, YYYY-MM")
    p.add_argument("--output", help="table root of the run (default: as xrf-dose run)")
    p.set_defaults(func=_report)

    p = sub.add_parser("schema", help="print the data dictionary (Markdown)")
    p.add_argument("--write", action="store_true", help="regenerate schemas/README.md instead")
    p.set_defaults(func=_schema)

    p = sub.add_parser("listen", help="receive dose reports and images over DICOM (Storage SCP)")
    p.add_argument("--input", required=True, help="the input tree: <AE>/<study>/<SOP>.dcm go here")
    p.add_argument("--port", type=int, default=11112)
    p.add_argument("--ae-title", default="XRFDOSE", help="our AE title (the called AE)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--allow", help="calling AE titles accepted, comma-separated (default: any)")
    p.add_argument("--grace", type=float, default=60.0, help="seconds a stop waits for transfers")
    p.set_defaults(func=_listen)

    p = sub.add_parser("pull", help="have a PACS send the dose reports of a date range (C-MOVE)")
    p.add_argument("--pacs", required=True, help="HOST:PORT:AET of the PACS")
    p.add_argument("--since", required=True, help="first study date, YYYY-MM-DD")
    p.add_argument("--until", help="last study date, YYYY-MM-DD (default: open)")
    p.add_argument("--modality", default="XA,RF", help="image modalities of studies to pull")
    p.add_argument("--images", action="store_true", help="images too, not only dose reports")
    p.add_argument("--move-to", default="XRFDOSE", help="the listener's AE title at the PACS")
    p.add_argument("--ae-title", default="XRFPULL", help="our AE title when querying")
    p.add_argument("--state", help="folder of the pull state (default: <output>/_state/pull)")
    p.set_defaults(func=_pull)

    p = sub.add_parser("study", help="a study's dose card: totals, events, images, alerts")
    p.add_argument("uid", help="Study Instance UID")
    p.add_argument("--output", help="table root (default: as xrf-dose run)")
    p.add_argument("--json", action="store_true", help="JSON instead of aligned text")
    p.set_defaults(func=_lookup)

    p = sub.add_parser("patient", help="a patient's studies over time, rolling sums, alerts")
    p.add_argument("id", help="patient_id as the tables publish it (pseudonymize: the hash)")
    p.add_argument("--output", help="table root (default: as xrf-dose run)")
    p.add_argument("--json", action="store_true", help="JSON instead of aligned text")
    p.set_defaults(func=_lookup)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # the reader of our output went away (`xrf-dose patient ID | head`): not a failure; stdout
        # goes to /dev/null so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def console() -> None:
    """The ``xrf-dose`` command: :func:`main`, then an exit without the interpreter's teardown.

    Freeing what a run imported (Dagster, polars, pydicom: millions of objects) took 0.8-0.9 s
    after the last line was printed, and nothing in it is needed once the exit handlers have run
    (logging, the reader pool's folders) and the output is flushed; a caller reading the output
    through a pipe (``| tee``, a scheduler) waited for it. With a thread still running, Python's
    own exit joins it.
    """
    global _OWN_PROCESS
    _OWN_PROCESS = True
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    with contextlib.suppress(BrokenPipeError):  # the reader went away, as main() allows
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
