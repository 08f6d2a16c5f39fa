"""Ask a PACS for the dose reports (and, if wanted, the images) of a date range and have it send
them to the listener (C-FIND, then C-MOVE; PS3.4 Annex C, Study Root).

C-MOVE, not C-GET: the input tree is written by the listener only, so every object, pushed by a
modality or pulled from the archive, arrives the same way and is filed the same way. The PACS
must know the listener's AE title (its host and port) as a move destination.

Studies are found at study level by date; their series at series level; then, in SR series,
only instances whose SOP Class UID is a dose report are moved, one by one, where the PACS
answers instance-level queries with the SOP Class UID. Where it does not, the whole SR series is
moved (the summary counts those). Image series are moved whole (``images=True`` only). The
moves of a study are first tried as one C-MOVE naming its instances, then series by series. What was
moved is kept in a state file, so a second pull moves nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.association import Association

from xrf_assets.core.network.contexts import DOSE_REPORT_CLASSES
from xrf_assets.core.network.pull_state import PullState
from xrf_assets.core.network.tcp import NO_DELAY

log = logging.getLogger("xrf_assets.network.pull")

FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve Information Model - FIND
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"  # Study Root Query/Retrieve Information Model - MOVE
PENDING = {0xFF00, 0xFF01}
MAX_UID_LIST = 200  # SOP Instance UIDs in one C-MOVE identifier (64 bytes each at most)
# Modalities of objects that are not images: a study with only these may hold just dose reports.
NON_IMAGE = {"SR", "KO", "PR", "DOC"}


class PullError(RuntimeError):
    """The PACS cannot be reached or refused; the state file holds what was fetched before."""


@dataclass(frozen=True)
class Pacs:
    host: str
    port: int
    ae_title: str

    @classmethod
    def parse(cls, text: str) -> Pacs:
        """``HOST:PORT:AET``."""
        parts = text.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].strip():
            raise ValueError(
                f"--pacs {text!r}: expected HOST:PORT:AET, e.g. 127.0.0.1:4242:ORTHANC"
            )
        return cls(parts[0], int(parts[1]), parts[2].strip())


@dataclass(frozen=True)
class PullSettings:
    pacs: Pacs
    since: date
    state_dir: Path
    until: date | None = None
    modalities: tuple[str, ...] = ("XA", "RF")
    images: bool = False
    move_to: str = "XRFDOSE"  # the listener's AE title, as the PACS knows it
    ae_title: str = "XRFPULL"  # ours, calling the PACS


@dataclass
class PullSummary:
    studies_found: int = 0
    studies_matched: int = 0
    reports_found: int = 0
    images_found: int = 0
    already_fetched: int = 0
    fetched: int = 0
    failed: int = 0
    whole_sr_series: int = 0  # moved whole: the PACS gave no SOP Class UID per instance
    problems: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [
            f"studies found: {self.studies_found}, "
            f"of them with the wanted modalities or only reports: {self.studies_matched}",
            f"dose reports found: {self.reports_found}, images found: {self.images_found}",
            f"already fetched before: {self.already_fetched}",
            f"fetched now: {self.fetched}, failed: {self.failed}",
        ]
        if self.whole_sr_series:
            lines.append(
                f"SR series moved whole (no instance-level SOP class): {self.whole_sr_series}"
            )
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)


def _date_range(since: date, until: date | None) -> str:
    return f"{since:%Y%m%d}-{until:%Y%m%d}" if until else f"{since:%Y%m%d}-"


def _find(assoc: Association, query: Dataset) -> Iterator[Dataset]:
    """Matches of one C-FIND; PullError when the PACS answers with a failure."""
    for status, identifier in assoc.send_c_find(query, FIND):
        if not status:
            raise PullError("the association was lost during a C-FIND")
        if status.Status in PENDING and identifier is not None:
            yield identifier
        elif status.Status not in PENDING and status.Status != 0x0000:
            raise PullError(f"C-FIND refused by the PACS (status 0x{status.Status:04X})")


def _query(level: str, **keys: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for name, value in keys.items():
        setattr(ds, name, value)
    return ds


def _move(assoc: Association, settings: PullSettings, identifier: Dataset) -> tuple[int, int]:
    """One C-MOVE to the listener: (completed, failed) sub-operations."""
    completed = failed = 0
    final = None
    for status, _ in assoc.send_c_move(identifier, settings.move_to, MOVE):
        if not status:
            raise PullError("the association was lost during a C-MOVE")
        final = status
    if final is None:
        raise PullError("no answer to a C-MOVE")
    completed = int(final.get("NumberOfCompletedSuboperations", 0) or 0)
    failed = int(final.get("NumberOfFailedSuboperations", 0) or 0)
    failed += int(final.get("NumberOfWarningSuboperations", 0) or 0)
    if final.Status == 0xA801:
        raise PullError(
            f"the PACS does not know the move destination {settings.move_to!r}: add the "
            "listener (AE title, host, port) to its DICOM modalities"
        )
    if final.Status not in (0x0000, 0xB000) and not completed:
        failed = max(failed, 1)
    return completed, failed


def _values(value: object) -> set[str]:
    """A multi-valued code string (pydicom gives a str for one value, a list for more)."""
    if not value:
        return set()
    items = [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return {str(v).strip().upper() for v in items if str(v).strip()}


def _count(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _wanted_study(modalities_in_study: set[str], wanted: set[str]) -> bool:
    """A study with a wanted modality, or one holding only non-image objects (dose reports sent
    on their own), or whose PACS does not say (kept: its series say more)."""
    return (
        not modalities_in_study
        or bool(modalities_in_study & wanted)
        or (modalities_in_study <= NON_IMAGE)
    )


@dataclass(frozen=True)
class _Wanted:
    uids: list[str]
    whole: bool  # every instance of the series
    by_class: bool  # chosen by SOP class (the PACS returned it for every instance)


def _series_instances(assoc: Association, study: str, series: str, reports_only: bool) -> _Wanted:
    """SOP Instance UIDs to fetch from one series."""
    rows = list(
        _find(
            assoc,
            _query(
                "IMAGE",
                StudyInstanceUID=study,
                SeriesInstanceUID=series,
                SOPInstanceUID="",
                SOPClassUID="",
            ),
        )
    )
    uids = [str(r.get("SOPInstanceUID", "")) for r in rows if r.get("SOPInstanceUID")]
    classes = [str(r.get("SOPClassUID", "") or "") for r in rows if r.get("SOPInstanceUID")]
    if not reports_only:
        return _Wanted(uids, True, False)
    if not all(classes):  # no SOP class per instance: the whole SR series
        return _Wanted(uids, True, False)
    dose = [u for u, c in zip(uids, classes, strict=True) if c in DOSE_REPORT_CLASSES]
    return _Wanted(dose, len(dose) == len(uids), True)


def _fetch_series(
    assoc: Association,
    settings: PullSettings,
    state: PullState,
    summary: PullSummary,
    study: str,
    series: str,
    wanted: _Wanted,
) -> bool:
    """Move what is not yet fetched; True when every wanted instance of the series is."""
    uids = wanted.uids
    new = [u for u in uids if not state.has(study, series, u)]
    summary.already_fetched += len(uids) - len(new)
    if not new:
        return True
    if wanted.whole and len(new) == len(uids):  # one C-MOVE for the series
        completed, failed = _move(
            assoc, settings, _query("SERIES", StudyInstanceUID=study, SeriesInstanceUID=series)
        )
        if failed == 0 and completed >= len(new):
            for uid in new:
                state.add(study, series, uid)
            summary.fetched += len(new)
            return True
    complete = True
    for uid in new:  # one by one: what the series move did not complete, or a part of a series
        completed, failed = _move(
            assoc,
            settings,
            _query("IMAGE", StudyInstanceUID=study, SeriesInstanceUID=series, SOPInstanceUID=uid),
        )
        if completed and not failed:
            state.add(study, series, uid)
            summary.fetched += 1
        else:
            summary.failed += 1
            complete = False
            log.warning("not fetched: %s (series %s, study %s)", uid, series, study)
    return complete


def _fetch_study(
    assoc: Association,
    settings: PullSettings,
    state: PullState,
    summary: PullSummary,
    study: str,
    todo: list[tuple[str, int | None, _Wanted]],
) -> None:
    """First one C-MOVE for all new instances of the study (a list of SOP Instance UIDs, PS3.4
    C.4.2.2.1; one image per series is common, and a move per series costs a sub-association
    each); what that does not complete, series by series and then one by one."""
    new = [
        (series, uid)
        for series, _, wanted in todo
        for uid in wanted.uids
        if not state.has(study, series, uid)
    ]
    moved = False
    if len(new) > 1 and len(new) <= MAX_UID_LIST:
        uids = "\\".join(uid for _, uid in new)
        identifier = _query("IMAGE", StudyInstanceUID=study, SOPInstanceUID=uids)
        completed, failed = _move(assoc, settings, identifier)
        moved = failed == 0 and completed >= len(new)
    for series, count, wanted in todo:
        if moved:
            fresh = [u for u in wanted.uids if not state.has(study, series, u)]
            summary.already_fetched += len(wanted.uids) - len(fresh)
            summary.fetched += len(fresh)
            for uid in fresh:
                state.add(study, series, uid)
            complete = True
        else:
            complete = _fetch_series(assoc, settings, state, summary, study, series, wanted)
        if complete and count:
            state.mark_complete(study, series, count, len(wanted.uids))
    state.save()


def pull(settings: PullSettings) -> PullSummary:
    """Find and move; the state file is saved after every series."""
    pacs = settings.pacs
    state = PullState.load(settings.state_dir, pacs.host, pacs.port, pacs.ae_title)
    summary = PullSummary()
    ae = AE(ae_title=settings.ae_title)
    # pynetdicom waits 30 s for each DIMSE message; a busy PACS answering a C-FIND or sending the
    # sub-operations of a C-MOVE can go quiet for longer, and a late answer then arrives on an
    # association that gave up on it ("unexpected C-FIND service message")
    ae.dimse_timeout = ae.network_timeout = 300
    ae.add_requested_context(FIND)
    ae.add_requested_context(MOVE)
    assoc = ae.associate(pacs.host, pacs.port, ae_title=pacs.ae_title, evt_handlers=NO_DELAY)
    if not assoc.is_established:
        raise PullError(
            f"no association with {pacs.ae_title} at {pacs.host}:{pacs.port} (refused, or "
            f"unreachable; does the PACS accept the calling AE {settings.ae_title!r}?)"
        )
    wanted = {m.upper() for m in settings.modalities}
    try:
        studies = list(
            _find(
                assoc,
                _query(
                    "STUDY",
                    StudyDate=_date_range(settings.since, settings.until),
                    StudyInstanceUID="",
                    ModalitiesInStudy="",
                ),
            )
        )
        summary.studies_found = len(studies)
        for s in studies:
            study = str(s.StudyInstanceUID)
            in_study = _values(s.get("ModalitiesInStudy"))
            if not _wanted_study(in_study, wanted):
                continue
            summary.studies_matched += 1
            query = _query(
                "SERIES",
                StudyInstanceUID=study,
                SeriesInstanceUID="",
                Modality="",
                NumberOfSeriesRelatedInstances="",
            )
            todo: list[tuple[str, int | None, _Wanted]] = []
            for row in list(_find(assoc, query)):
                series, modality = str(row.SeriesInstanceUID), str(row.get("Modality", ""))
                is_report = modality == "SR"
                if not is_report and not (settings.images and modality.upper() in wanted):
                    continue
                count = _count(row.get("NumberOfSeriesRelatedInstances"))
                done = state.complete_series(study, series, count) if count else None
                if done is not None:  # completed before, and no instance added since
                    summary.reports_found += done if is_report else 0
                    summary.images_found += 0 if is_report else done
                    summary.already_fetched += done
                    continue
                found = _series_instances(assoc, study, series, reports_only=is_report)
                if is_report:
                    summary.reports_found += len(found.uids)
                    summary.whole_sr_series += int(not found.by_class and bool(found.uids))
                else:
                    summary.images_found += len(found.uids)
                todo.append((series, count, found))
            _fetch_study(assoc, settings, state, summary, study, todo)
    finally:
        assoc.release()
    log.info(
        "pull from %s done: %d fetched, %d failed", state.pacs, summary.fetched, summary.failed
    )
    return summary
