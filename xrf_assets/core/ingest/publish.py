"""The published ingest tables as a pure function of the staging state (and the rooms file).

Order matters and is fixed: (1) one file per SOP Instance UID (0008,0018): a file still present
beats one that is gone, then a copy read cleanly and completely (``ok``) beats a damaged one
(``partial``: content items lost), then the newer modification time, then the first path; where two
complete copies differ, the loser's reason lists what differs; (2) re-sent dose reports resolved by
``decide_report_duplicates``; (3) rooms assigned from the device identity and the rooms file, here
only (staged rows have no ``room_id``); (4) published names: paths become keyed file ids, and
accession numbers and UIDs keyed hashes where the privacy settings say so; (5) every row sorted by
its key. Patient identity was pseudonymized when the rows were staged; the staging keeps the real
paths (private). Because nothing here depends on the order in which files were read, any split of
the work into batches and runs gives the same tables as one full run."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import polars as pl

from schemas import contract
from xrf_assets.core.extract.devices import IDENTITY_COLUMNS
from xrf_assets.core.ingest.privacy import PrivacySettings
from xrf_assets.core.ingest.resent_reports import (
    DECIDING_ACCUMULATED_COLUMNS,
    DECIDING_EVENT_COLUMNS,
    decide_report_duplicates,
)
from xrf_assets.core.ingest.rooms import RoomDirectory, with_room_ids
from xrf_assets.core.ingest.staging import StagedScan, Staging

USABLE = ("ok", "partial")  # statuses whose rows reach the tables
IDENTIFIED = PrivacySettings("identified")

# table -> sort key of its published rows
SORT_KEYS: dict[str, list[str]] = {
    "dicom_files": ["path"],
    "images": ["sop_instance_uid"],
    "irradiation_events": ["irradiation_event_uid"],
    "accumulated_dose": ["report_sop_instance_uid", "acquisition_plane"],
    "event_image_refs": [
        "irradiation_event_uid",
        "referenced_sop_instance_uid",
        "referenced_sop_class_uid",
        "report_sop_instance_uid",
    ],
}


def _kept_files(files: pl.DataFrame) -> pl.DataFrame:
    """For every SOP Instance UID among usable files, the file whose rows are kept."""
    return (
        files.filter(pl.col("status").is_in(USABLE) & pl.col("sop_instance_uid").is_not_null())
        .with_columns(complete=pl.col("status") == "ok")
        .sort(
            ["present", "complete", "mtime_ns", "path"],
            descending=[True, True, True, False],
            nulls_last=True,
        )
        .unique("sop_instance_uid", keep="first", maintain_order=True)
        .select(
            "sop_instance_uid",
            pl.col("path").alias("kept_path"),
            pl.col("study_instance_uid").alias("kept_study"),
            pl.col("status").alias("kept_status"),
        )
    )


def _digests(rows: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Per file and column, an order-free digest of its rows' values: (source_path, column, d)."""
    frames = []
    for table, df in rows.items():
        columns = [c for c in df.columns if c != "source_path"]
        if not df.height or not columns:
            continue
        frames.append(
            df.group_by("source_path")
            .agg(pl.len().alias(f"{table}.rows"), *(pl.col(c).hash().sum() for c in columns))
            .rename({c: f"{table}.{c}" for c in columns})
            .unpivot(index="source_path", variable_name="column", value_name="digest")
            .with_columns(pl.col("digest").cast(pl.UInt64))
        )
    schema = {"source_path": pl.String(), "column": pl.String(), "digest": pl.UInt64()}
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _differences(
    files: pl.DataFrame, kept: pl.DataFrame, rows: dict[str, pl.LazyFrame]
) -> pl.DataFrame:
    """For a usable copy that loses to another complete copy: which table columns differ."""
    pairs = (
        files.filter(pl.col("status").is_in(USABLE))
        .join(kept, on="sop_instance_uid")
        .filter((pl.col("kept_path") != pl.col("path")) & (pl.col("kept_status") == "ok"))
        .select("path", "kept_path")
    )
    if not pairs.height:
        return pl.DataFrame(schema={"path": pl.String(), "differs": pl.String()})
    paths = pl.concat([pairs.get_column("path"), pairs.get_column("kept_path")]).unique()
    digests = _digests(
        {
            t: lf.filter(pl.col("source_path").is_in(paths.implode())).collect()
            for t, lf in rows.items()
        }
    )
    mine = pairs.join(digests, left_on="path", right_on="source_path", how="left")
    theirs = pairs.join(digests, left_on="kept_path", right_on="source_path", how="left")
    both = mine.join(theirs, on=["path", "kept_path", "column"], how="full", coalesce=True)
    return (
        both.filter(
            pl.col("column").is_not_null() & pl.col("digest").ne_missing(pl.col("digest_right"))
        )
        .group_by("path")
        .agg(pl.col("column").unique().sort().str.join(", ").alias("differs"))
    )


def _final_status(
    files: pl.DataFrame, kept: pl.DataFrame, superseded: pl.DataFrame, differs: pl.DataFrame
) -> pl.DataFrame:
    """dicom_files: read status, then duplicate / superseded / missing with their reasons."""
    files = (
        files.join(kept, on="sop_instance_uid", how="left")
        .join(superseded, on="sop_instance_uid", how="left")
        .join(differs, on="path", how="left")
    )
    usable = pl.col("status").is_in(USABLE)
    duplicate = usable & pl.col("kept_path").is_not_null() & (pl.col("kept_path") != pl.col("path"))
    gone = ~pl.col("present")
    status = (
        pl.when(gone)
        .then(pl.lit("missing"))
        .when(duplicate)
        .then(pl.lit("duplicate"))
        .when(usable & pl.col("superseded_reason").is_not_null())
        .then(pl.lit("superseded"))
        .otherwise(pl.col("status"))
    )
    why_kept = (
        pl.when((pl.col("kept_status") == "ok") & (pl.col("status") == "partial"))
        .then(pl.lit("read completely, while this copy lost content items"))
        .when(pl.col("kept_status") == "partial")
        .then(pl.lit("damaged too, but newer, or same time and first path"))
        .otherwise(pl.lit("newer file, or same time and first path"))
    )
    duplicate_reason = (
        pl.format(
            "same SOP Instance UID as '{}', which is kept ({})", pl.col("kept_label"), why_kept
        )
        + pl.when(pl.col("study_instance_uid").eq_missing(pl.col("kept_study")))
        .then(pl.lit(""))
        .otherwise(
            pl.lit("; the two differ in Study Instance UID (0020,000D): the sender reused a UID")
        )
        + pl.when(pl.col("differs").is_null() | (pl.col("status") != "ok"))
        .then(pl.lit(""))
        .otherwise(
            pl.format("; conflict: both copies read completely and differ in {}", pl.col("differs"))
        )
    )
    gone_reason = (
        pl.when(duplicate)
        .then(
            pl.format(
                "file no longer under the input root; its object is now read from '{}'",
                pl.col("kept_label"),
            )
        )
        .when(usable)
        .then(pl.lit("file no longer under the input root; the rows read from it are kept"))
        .otherwise(
            pl.format(
                "file no longer under the input root (it was {}: {})",
                pl.col("status"),
                pl.col("reason").fill_null(""),
            )
        )
    )
    reason = (
        pl.when(gone)
        .then(gone_reason)
        .when(duplicate)
        .then(duplicate_reason)
        .when(usable)
        .then(pl.col("superseded_reason").fill_null(pl.col("reason")))
        .otherwise(pl.col("reason"))
    )
    return files.with_columns(status.alias("status"), reason.alias("reason")).drop(
        "kept_path", "kept_label", "kept_study", "kept_status", "superseded_reason", "differs"
    )


# table -> columns holding a DICOM UID of an instance, study or series or event (SOP Class and
# Transfer Syntax UIDs are standard constants and identify nobody); accession number columns
UID_COLUMNS: dict[str, tuple[str, ...]] = {
    "dicom_files": ("sop_instance_uid", "study_instance_uid"),
    "images": ("sop_instance_uid", "study_instance_uid", "series_instance_uid"),
    "irradiation_events": (
        "irradiation_event_uid",
        "report_sop_instance_uid",
        "study_instance_uid",
    ),
    "accumulated_dose": ("report_sop_instance_uid", "study_instance_uid"),
    "event_image_refs": (
        "irradiation_event_uid",
        "referenced_sop_instance_uid",
        "report_sop_instance_uid",
    ),
}
_UID_LISTS = {"images": ("irradiation_event_uids",)}
_ACCESSION = {"images": ("accession_number",), "irradiation_events": ("accession_number",)}
_TEXTS = {"dicom_files": ("reason", "issues")}
_PATHS = ("path", "source_path")  # dicom_files.path; source_path where a table has it


def _mapped(values: pl.Series, fn: Callable[[str], str]) -> pl.Series:
    """``fn`` over the distinct non-null values, joined back (one call per distinct value)."""
    distinct = values.drop_nulls().unique()
    mapping = dict(zip(distinct.to_list(), map(fn, distinct.to_list()), strict=True))
    return values.replace_strict(mapping, default=None, return_dtype=pl.String())


def published_names(table: str, df: pl.DataFrame, privacy: PrivacySettings) -> pl.DataFrame:
    """The frame with paths as keyed file ids and, with ``hash_identifiers``, accession numbers,
    UIDs and the UIDs quoted in free text keyed (identity in identified mode); ``df`` may hold
    only some of the table's columns (a sort key)."""
    if not privacy.pseudonymized:
        return df
    out = {}
    for column in (c for c in _PATHS if c in df.columns):
        out[column] = _mapped(df.get_column(column), privacy.file_id)
    if privacy.hash_identifiers:
        for columns, fn in (
            (UID_COLUMNS, privacy.uid),
            (_ACCESSION, privacy.accession),
            (_TEXTS, privacy.text),
        ):
            for column in (c for c in columns.get(table, ()) if c in df.columns):
                out[column] = _mapped(df.get_column(column), fn)
        for column in (c for c in _UID_LISTS.get(table, ()) if c in df.columns):
            out[column] = df.get_column(column).list.eval(
                pl.element().map_elements(privacy.uid, return_dtype=pl.String())
            )
    return df.with_columns(pl.Series(name, s) for name, s in out.items())


def _scan(staging: Staging | StagedScan, table: str) -> pl.LazyFrame:
    return staging.rows[table].lazy()


BATCH_ROWS = 100_000  # rows of a table built at a time: at 1M files the events are 1.4M rows


def publish_each(
    staging: Staging | StagedScan,
    rooms: RoomDirectory | None = None,
    privacy: PrivacySettings = IDENTIFIED,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[tuple[str, Iterator[pl.DataFrame]]]:
    """Every ingest table in contract shape and sorted, one at a time, as batches of about
    ``batch_rows`` rows in table order: dedup, then re-sent reports resolved, then rooms assigned
    by ``rooms`` (the default rule when None), then the published names.

    The caller writes a table's batches (and lets go of each) before asking for the next table:
    no table is ever held whole. What decides which rows survive is computed first, on the few
    columns it needs; the file rows and those decisions are held throughout."""
    rooms = rooms or RoomDirectory()
    kept_paths = _kept_files(staging.files).select(pl.col("kept_path").alias("source_path")).lazy()

    def rows(table: str, columns: Iterable[str] | None = None) -> pl.LazyFrame:
        names = set(contract(table).column_names) if columns is None else set(columns)
        lf = _scan(staging, table).join(
            kept_paths, on="source_path", how="semi", maintain_order="left"
        )
        return lf.select(c for c in lf.collect_schema().names() if c in names)

    decided = decide_report_duplicates(
        rows("irradiation_events", DECIDING_EVENT_COLUMNS).collect(),
        rows("accumulated_dose", DECIDING_ACCUMULATED_COLUMNS).collect(),
    )

    def batches(table: str, lf: pl.LazyFrame, with_rooms: bool = False) -> Iterator[pl.DataFrame]:
        for part in _parts(table, lf, privacy, batch_rows):
            yield _published(table, part, privacy, rooms if with_rooms else None)

    yield "images", batches("images", rows("images"), with_rooms=True)
    events = decided.kept_rows(rows("irradiation_events"))
    yield "irradiation_events", batches("irradiation_events", events, with_rooms=True)
    accumulated = decided.accumulated(rows("accumulated_dose"))
    yield "accumulated_dose", batches("accumulated_dose", accumulated)
    refs = decided.kept_rows(rows("event_image_refs"))
    yield "event_image_refs", batches("event_image_refs", refs)
    superseded = pl.DataFrame(
        {
            "sop_instance_uid": list(decided.superseded),
            "superseded_reason": list(decided.superseded.values()),
        },
        schema={"sop_instance_uid": pl.String(), "superseded_reason": pl.String()},
    )
    # the file rows' published names and which file keeps a UID, only now: not held for the rows
    staged_files = staging.files.with_columns(
        _mapped(staging.files.get_column("path"), privacy.file_id).alias("label")
    )
    kept = _kept_files(staged_files).join(
        staged_files.select(pl.col("path").alias("kept_path"), kept_label="label"), on="kept_path"
    )
    differs = _differences(staged_files, kept, {t: _scan(staging, t) for t in staging.rows})

    def file_batches() -> Iterator[pl.DataFrame]:
        for part in _parts("dicom_files", staged_files.lazy(), privacy, batch_rows):
            files = _final_status(part.collect(), kept, superseded, differs).drop("label")
            yield _published("dicom_files", files.lazy(), privacy)

    yield "dicom_files", file_batches()


def _parts(
    table: str, rows: pl.LazyFrame, privacy: PrivacySettings, batch_rows: int
) -> Iterator[pl.LazyFrame]:
    """``rows`` split into parts of about ``batch_rows`` rows that follow each other in the
    table's order: each part holds the rows of a run of values of the first sort column
    (published, as the table is sorted), all rows of a value in one part. Only that column is
    loaded whole; a part is the rows whose staged value is one of its run."""
    first = SORT_KEYS[table][0]
    counts = rows.group_by(first).agg(pl.len().alias("_n")).collect()
    names = published_names(table, counts.select(first), privacy).get_column(first)
    runs = (
        counts.with_columns(names.alias("_published"))
        .sort("_published", nulls_last=True)
        .with_columns(_part=(pl.col("_n").cum_sum() - pl.col("_n")) // batch_rows)
    )
    if not runs.height:
        yield rows
        return
    for (_,), run in runs.group_by("_part", maintain_order=True):
        values = run.get_column(first)
        yield rows.filter(pl.col(first).is_in(values.implode(), nulls_equal=True))


def _published(
    table: str, rows: pl.LazyFrame, privacy: PrivacySettings, rooms: RoomDirectory | None = None
) -> pl.DataFrame:
    """One batch of a table loaded, its rooms assigned, its names published, sorted by its key."""
    df = rows.collect()
    if rooms is not None:  # with_room_ids on the device columns alone: it joins what it gets
        identity = [c for c in IDENTITY_COLUMNS.values() if c in df.columns]
        df = df.with_columns(with_room_ids(df.select(identity), rooms).get_column("room_id"))
    df = published_names(table, df.select(contract(table).column_names), privacy)
    return df.sort(SORT_KEYS[table], nulls_last=True)


def publish(
    staging: Staging | StagedScan,
    rooms: RoomDirectory | None = None,
    privacy: PrivacySettings = IDENTIFIED,
    batch_rows: int = BATCH_ROWS,
) -> dict[str, pl.DataFrame]:
    """Every ingest table at once (tests, small stagings); the ingest writes :func:`publish_each`
    batch by batch."""
    return {
        table: pl.concat(list(parts))
        for table, parts in publish_each(staging, rooms, privacy, batch_rows)
    }


PROJECT_PACKAGES = ("xrf_assets", "schemas")
_PROJECT_ROOT = Path(__file__).resolve().parents[3]  # holds xrf_assets/ and schemas/


def _source(name: str, root: Path) -> tuple[Path, bool] | None:
    """The source file of module ``name`` under ``root`` and whether it is a package."""
    base = root.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py", True
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py"), False
    return None  # `from package import name` where name is not a module


# `import a.b as c, d` and `from .a import (b, c)`; a line that only looks like one (in a
# docstring) adds a module to the closure, never takes one away (parsing every source with `ast`
# took 0.2 s of each run's start)
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)|import[ \t]+([^\n]*))",
    re.MULTILINE,
)


def _names(text: str) -> list[str]:
    """The modules of an import list: ``(a.b as c,  # note`` / ``d)`` -> a.b, d."""
    code = " ".join(line.split("#", 1)[0] for line in text.splitlines()).strip().strip("()")
    return [words[0] for words in (item.split() for item in code.split(",")) if words]


def _imported(path: Path, package: str) -> set[str]:
    """Modules that the source at ``path`` imports (absolute or relative), with their parents."""
    names: set[str] = set()
    for dots, module, listed, plain in _IMPORT.findall(path.read_text(encoding="utf-8")):
        if not dots and not module:
            names.update(_names(plain))
            continue
        base = module
        if dots:
            parts = package.split(".")[: len(package.split(".")) - len(dots) + 1]
            base = ".".join([*parts, base] if base else parts)
        names.add(base)
        names.update(f"{base}.{name}" for name in _names(listed))
    parents = {n.rsplit(".", i)[0] for n in names for i in range(1, n.count(".") + 1)}
    return names | parents


def source_closure(
    module: str, root: Path = _PROJECT_ROOT, packages: Iterable[str] = PROJECT_PACKAGES
) -> dict[str, Path]:
    """``module`` and every module of ``packages`` it imports, directly or not: name -> source.

    Read from the sources under ``root`` (nothing is imported), so a module that only a function
    imports counts too."""
    packages = tuple(packages)
    found: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in found or name.split(".")[0] not in packages:
            continue
        source = _source(name, root)
        if source is None:
            continue
        path, is_package = source
        found[name] = path
        todo.extend(_imported(path, name if is_package else name.rpartition(".")[0]))
    return found


def code_digest(module: str, root: Path = _PROJECT_ROOT) -> str:
    """SHA-256 of the sources of :func:`source_closure`: the published tables depend on every one
    of them (extraction and staging decide the staged rows, publish the rest), so a change to any
    of them publishes again."""
    digest = hashlib.sha256()
    for name, path in sorted(source_closure(module, root).items()):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
