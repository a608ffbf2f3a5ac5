"""``analyze --engine spark``: the same analysis on Apache Spark, for archives that outgrow one machine.

The steps, all on Spark DataFrames read from the store's ``records`` table:

1. the views the local store derives (latest post per id, edges, primary parent)
   as window functions, and root/depth by pointer doubling (one self-join per
   round, ``log2(depth)`` rounds);
2. the per-tree measures: trees are grouped into root buckets
   (``pmod(xxhash64(root), buckets)``), every bucket goes to one task, and
   :func:`lineage.analyze.analyze_trees` (a pure function of polars frames) runs
   on it inside ``mapInArrow``;
3. the whole-archive steps as Spark aggregations: style-bleed labels (first use
   per term and tree, the most active other tree in the window before each
   adoption), the flow matrix and homogenization (entropy and mean pairwise
   similarity per window);
4. the decay fits and the writing of the ``analysis_*`` tables on the driver,
   with the same code and schemas as the local engine, so ``load_results`` and
   the dashboard read either engine's output alike.

Reading ``records``: with the Delta Lake jars on the Spark classpath
(``delta_jars=True``) it is ``spark.read.format("delta")``; without them the
current version's Parquet files are listed with the ``deltalake`` package and
read with ``spark.read.parquet`` (local paths, ``file://``, ``s3://`` as
``s3a://``). Both give the same rows for tables written by this project (no
deletion vectors; a table that has them is refused without the jars).

Worker processes need this package importable (installed on the executors or
shipped with ``--py-files``) and pyarrow. pandas is not needed: the Arrow map
function is registered without the pandas-UDF check.

Examples
--------
>>> from lineage.spark import spark_ddl
>>> spark_ddl({"id": "string", "n": "bigint"})
'id string, n bigint'
"""
from __future__ import annotations

import io
import math
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from archive.store import Archive, LocalDeltaTable  # local files named as on disk, not percent-encoded
from lineage.errors import LineageError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["spark_session", "record_files", "read_records", "spark_views", "analyze_spark", "spark_ddl",
           "DELTA_PACKAGE"]

#: The Maven coordinate of the Delta Lake Spark jars that match pyspark 4 (Scala 2.13).
DELTA_PACKAGE = "io.delta:delta-spark_2.13:4.0.0"
_PER_TREE = ("nodes", "edges", "blame", "styles", "trees")
_STYLE_COLS = {"id": "string", "term": "string", "facet": "string", "source": "string", "root": "string"}
_FLAG_COLS = {"id": "string", "term": "string", "inherited": "boolean", "on_path": "boolean"}
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)  # any fixed time: isolated labels only need "same time"


def spark_ddl(columns: dict[str, str]) -> str:
    """A Spark DDL schema string from ``{column: type}``.

    >>> spark_ddl({"table": "string", "data": "binary"})
    'table string, data binary'
    """
    return ", ".join(f"{k} {v}" for k, v in columns.items())


def spark_session(master: str | None = "local[2]", *, delta_jars: bool = False, app_name: str = "remix-archivist",
                  conf: dict[str, str] | None = None) -> "SparkSession":
    """A SparkSession for the analysis (UTC session time zone, this Python on the workers).

    ``master`` ``None`` takes the one ``spark-submit`` set, else ``local[*]``. With ``delta_jars`` the Delta
    Lake SQL extension is switched on (the jars themselves come from
    ``spark-submit --packages`` :data:`DELTA_PACKAGE` or ``spark.jars``).

    >>> spark_session("local[1]").version  # doctest: +SKIP
    '4.0.1'
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise LineageError("the spark engine needs pyspark: pip install 'remix-archivist[spark]' "
                           "(and Java 17 or newer)") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    b = SparkSession.builder.appName(app_name)
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not launched by spark-submit
        master = "local[*]"
    if master:
        b = b.master(master)
    b = (b.config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
         .config("spark.sql.execution.arrow.useLargeVarTypes", "false"))
    if delta_jars:
        b = (b.config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
             .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"))
    for k, v in (conf or {}).items():
        b = b.config(k, v)
    return b.getOrCreate()


def _table_uri(store: str | os.PathLike, name: str) -> str:
    s = str(store)
    return s.rstrip("/") + "/" + name if "://" in s else str(Path(s) / name)


def record_files(store: str | os.PathLike, *, storage_options: dict[str, str] | None = None) -> list[str]:
    """The Parquet files of the current version of the store's ``records`` table, as URIs Spark reads.

    >>> import tempfile
    >>> a = Archive.open(tempfile.mkdtemp() + "/arc", create=True)
    >>> record_files(a.path)
    []
    """
    from deltalake.exceptions import TableNotFoundError

    uri = _table_uri(store, "records")
    try:
        dt = LocalDeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError:
        raise LineageError(f"no records table at {uri}: is {store} a remix archive?") from None
    features = set(dt.protocol().reader_features or [])
    if "deletionVectors" in features:
        raise LineageError(f"{uri} uses deletion vectors: read it with the Delta Lake jars (--delta-jars)")
    return [u.replace("s3://", "s3a://", 1) for u in dt.file_uris()]


def read_records(spark: "SparkSession", store: str | os.PathLike, *, delta_jars: bool = False,
                 storage_options: dict[str, str] | None = None) -> "DataFrame":
    """The store's ``records`` log as a Spark DataFrame (Delta reader with the jars, else its Parquet files).

    >>> read_records(spark_session(), "remix-archive").count()  # doctest: +SKIP
    3000
    """
    if delta_jars:
        return spark.read.format("delta").load(_table_uri(store, "records"))
    files = record_files(store, storage_options=storage_options)
    if not files:
        raise LineageError(f"the archive at {store} has no records yet: ingest something first")
    return spark.read.parquet(*files)


def spark_views(records: "DataFrame") -> dict[str, "DataFrame"]:
    """``posts``, ``edges`` and ``lineage`` from the log, as the local store derives them.

    Root and depth come from pointer doubling; an archive with a cycle (rare:
    a post that is its own ancestor) has its lineage computed on the driver by
    :func:`archive.graph.compute_lineage`, which breaks cycles deterministically.

    >>> views = spark_views(read_records(spark_session(), "remix-archive"))  # doctest: +SKIP
    >>> sorted(views)  # doctest: +SKIP
    ['edges', 'lineage', 'posts']
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # _row: the stored order (read before any shuffle), for merging the parents of equal-time observations
    recs = (records.withColumn("_row", F.monotonically_increasing_id())
            .withColumn("observed_at", F.coalesce("fetched_at", "ingested_at")))
    newest = Window.partitionBy("id").orderBy(F.col("observed_at").desc(), F.col("ingested_at").desc(),
                                              F.col("content_hash").desc())
    latest = (recs.withColumn("_k", F.row_number().over(newest))
              .withColumn("n_obs", F.count(F.lit(1)).over(Window.partitionBy("id")))
              .filter(F.col("_k") == 1).drop("_k"))
    text = (F.when(F.col("prompt").isNotNull() & (F.col("prompt") != ""), F.col("prompt"))
            .otherwise(F.coalesce(F.col("title"), F.lit(""))))
    posts = latest.select("id", "created_at", "fetched_at", "title", "prompt", "style_tags", "views",
                          text.alias("text")).persist()
    # the parents of every observation made at the latest time of an id, merged in stored order
    # (archive.graph.merge_equal_time_parents): one line per edge gives the union of the lines' parents
    same_time = recs.join(latest.select("id", F.col("observed_at").alias("_at")), "id").filter(
        F.col("observed_at") == F.col("_at"))
    first = Window.partitionBy("child", "parent").orderBy("_row", "_pos")
    edges = (same_time.select(F.col("id").alias("child"), "_row", F.posexplode("parents").alias("_pos", "p"))
             .select("child", "_row", "_pos", F.col("p.id").alias("parent"), F.col("p.relation").alias("relation"),
                     F.col("p.evidence").alias("evidence"), F.col("p.confidence").alias("confidence"))
             .withColumn("_k", F.row_number().over(first)).filter(F.col("_k") == 1)
             .withColumn("rank", (F.row_number().over(Window.partitionBy("child").orderBy("_row", "_pos")) - 1)
                         .cast("long"))
             .drop("_row", "_pos", "_k")
             .persist())
    decl = F.when(F.col("relation").isin("remix", "parentOf"), 0).otherwise(1)
    order = Window.partitionBy("child").orderBy(decl, F.col("rank"), F.col("parent"))  # archive.graph's rule
    primary = (edges.filter(F.col("child") != F.col("parent"))
               .withColumn("_k", F.row_number().over(order)).filter(F.col("_k") == 1)
               .select(F.col("child").alias("id"), "parent"))
    ids = posts.select("id").union(edges.select(F.col("parent").alias("id"))).distinct()
    nodes = ids.join(primary, "id", "left").persist()
    state = nodes.select("id", F.coalesce("parent", "id").alias("nxt"),
                         F.when(F.col("parent").isNotNull(), 1).otherwise(0).cast("long").alias("dist"))
    n = nodes.count()
    converged = False
    for _ in range(max(1, math.ceil(math.log2(max(n, 2)))) + 1):
        b = state.select(F.col("id").alias("_b"), F.col("nxt").alias("_bn"), F.col("dist").alias("_bd"))
        nxt = (state.join(b, state["nxt"] == b["_b"], "left")
               .select("id", F.col("_bn").alias("nxt"), (F.col("dist") + F.col("_bd")).alias("dist"),
                       (F.col("_bn") != F.col("nxt")).alias("_moved"))
               .localCheckpoint(eager=False))  # materialised by the count below: one job per round
        moved = nxt.filter(F.col("_moved")).limit(1).count()
        state = nxt.drop("_moved")
        if moved == 0:
            converged = True
            break
    roots = nodes.filter(F.col("parent").isNull()).select(F.col("id").alias("nxt"))
    if not converged or state.join(roots, "nxt", "left_anti").limit(1).count():
        lineage = _lineage_on_driver(records.sparkSession, posts, edges)
    else:
        lineage = nodes.join(state, "id").select("id", "parent", F.col("nxt").alias("root"),
                                                 F.col("dist").alias("depth"), F.lit(False).alias("in_cycle"))
    lineage = (lineage.join(posts.select("id", "created_at"), "id", "left")
               .withColumn("placeholder", F.col("created_at").isNull()).persist())
    return {"posts": posts, "edges": edges, "lineage": lineage}


def _lineage_on_driver(spark: "SparkSession", posts: "DataFrame", edges: "DataFrame") -> "DataFrame":
    from archive.graph import compute_lineage

    real = pl.from_arrow(posts.select("id", "created_at").toArrow())
    e = pl.from_arrow(edges.select("child", "parent", "relation", "rank").toArrow())
    lin, _ = compute_lineage(real.select("id").sort("id"), e, created=real)  # type: ignore[union-attr]
    return spark.createDataFrame(lin.select("id", "parent", "root", "depth", "in_cycle").to_arrow())


def _ipc(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf)
    return buf.getvalue()


def _run_buckets(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The map function of step 2: every tree of the task's buckets through ``analyze_trees``."""
    from lineage.analyze import analyze_trees
    from lineage.bleed import label_new_styles
    from lineage.styles import load_lexicon

    got = list(batches)
    if not got or sum(b.num_rows for b in got) == 0:
        return
    df = pl.from_arrow(pa.Table.from_batches(got))
    assert isinstance(df, pl.DataFrame)
    nodes = df.filter(pl.col("kind") == "n").select("id", "parent", "root", "depth", "placeholder", "created_at",
                                                    "in_cycle", "text", "style_tags", "views", "fetched_at")
    edges = df.filter(pl.col("kind") == "e").select(child="id", parent="parent", relation="relation")
    res = analyze_trees(nodes, edges, lexicon=load_lexicon())
    # on-path and inherited are facts of one tree: label each tree alone (terms made per-tree, one time for
    # all), so only the cross-tree parts of the bleed labels are left to Spark
    st = res["styles"].select("id", "term", "root").unique()
    iso = label_new_styles(st.select("id", term=pl.format("{}\x1f{}", "root", "term")),
                           nodes.select("id", "parent", "root", "depth", created_at=pl.lit(_EPOCH)))
    flags = iso.select("id", pl.col("term").str.split_exact("\x1f", 1).struct.field("field_1").alias("term"),
                       inherited=pl.col("label") == "inherited", on_path=pl.col("label") == "reused")
    out = {**{t: res[t] for t in _PER_TREE}, "flags": flags}
    yield pa.RecordBatch.from_pydict({"table": list(out), "data": [_ipc(f) for f in out.values()]},
                                     schema=pa.schema([("table", pa.string()), ("data", pa.binary())]))


def _decoder(table: str, columns: dict[str, str]):
    arrow = {"string": pa.string(), "boolean": pa.bool_()}
    schema = pa.schema([(k, arrow[v]) for k, v in columns.items()])

    def decode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            names, data = b.column(0).to_pylist(), b.column(1).to_pylist()
            for name, payload in zip(names, data):
                if name == table:
                    t = pl.read_ipc(io.BytesIO(payload)).select(list(columns)).to_arrow().cast(schema)
                    yield from t.to_batches()

    return decode


def _map_in_arrow(df: "DataFrame", func: Any, schema: str) -> "DataFrame":
    """``df.mapInArrow(func, schema)`` without pyspark's pandas check (the Arrow path never uses pandas)."""
    import importlib.util

    from pyspark.sql import DataFrame
    from pyspark.util import PythonEvalType

    if importlib.util.find_spec("pandas") is not None:  # pyspark's own check passes: use the public call
        return df.mapInArrow(func, schema)
    try:
        from pyspark.sql.pandas.functions import _create_vectorized_udf
    except ImportError:  # an older pyspark: its Arrow path wants pandas installed
        raise LineageError("this pyspark needs pandas for mapInArrow: pip install 'pyspark>=4.1' "
                           "(no pandas needed) or pandas") from None
    udf = _create_vectorized_udf(f=func, returnType=schema, evalType=PythonEvalType.SQL_MAP_ARROW_ITER_UDF,
                                 kind="pandas")
    col = udf(*[df[c] for c in df.columns])
    return DataFrame(df._jdf.mapInArrow(col._jc, False, None), df.sparkSession)


def _collect(df: "DataFrame") -> pl.DataFrame:
    out = pl.from_arrow(df.toArrow())
    assert isinstance(out, pl.DataFrame)
    return out


def _labels(styles: "DataFrame", flags: "DataFrame", lineage: "DataFrame", window_s: float) -> "DataFrame":
    """:func:`lineage.bleed.label_new_styles` as Spark joins and aggregations (on-path flags from step 2)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    u = (styles.select("id", "term").distinct()
         .join(lineage.select("id", "parent", "root", "depth", "created_at"), "id")
         .join(flags, ["id", "term"], "left").persist())
    per_tree = u.groupBy("term", "root").agg(F.min("created_at").alias("t"))
    ranked = per_tree.withColumn("k", F.row_number().over(Window.partitionBy("term").orderBy("t", "root")))
    first = ranked.filter(F.col("k") == 1).select("term", F.col("root").alias("r1"), F.col("t").alias("t1"))
    second = ranked.filter(F.col("k") == 2).select("term", F.col("root").alias("r2"), F.col("t").alias("t2"))
    new = (u.filter(~F.coalesce(F.col("inherited"), F.lit(False)))
           .join(first, "term", "left").join(second, "term", "left")
           .join(per_tree.select("term", "root", F.col("t").alias("t_own")), ["term", "root"], "left"))
    other = F.col("r1") != F.col("root")
    new = new.withColumn("t_other", F.when(other, F.col("t1")).otherwise(F.col("t2"))).withColumn(
        "r_other", F.when(other, F.col("r1")).otherwise(F.col("r2")))
    bled = (F.col("t_other") < F.col("created_at")) & ~F.coalesce(F.col("t_own") <= F.col("t_other"), F.lit(False))
    new = new.withColumn("label", F.when(F.coalesce(F.col("on_path"), F.lit(False)), F.lit("reused"))
                         .when(bled, F.lit("bled"))
                         .when(F.col("t_own") < F.col("created_at"), F.lit("reused"))
                         .otherwise(F.lit("novel"))).persist()
    # uses of the term in the window before each adoption: an equi-join on (term, time slot) with the
    # slot of the adoption and the one before, so a popular term is not joined with its whole history
    slot_us = max(1, int(window_s * 1e6))
    slot = F.floor(F.unix_micros("created_at") / slot_us)
    q = (new.filter(F.col("label") == "bled")
         .select("id", "term", F.col("root").alias("qroot"), F.col("created_at").alias("qt"),
                 F.explode(F.array(slot, slot - 1)).alias("slot")))
    ref = u.select("term", "root", "created_at", slot.alias("slot"))
    hits = (q.join(ref, ["term", "slot"])
            .filter((F.col("root") != F.col("qroot")) & (F.col("created_at") < F.col("qt"))
                    & (F.col("created_at") >= F.col("qt") - F.expr(f"make_dt_interval(0, 0, 0, {window_s})")))
            .groupBy("id", "term", "root").agg(F.count(F.lit(1)).alias("n"), F.min("created_at").alias("t0")))
    best = Window.partitionBy("id", "term").orderBy(F.col("n").desc(), F.col("t0"), F.col("root"))
    src = (hits.withColumn("_k", F.row_number().over(best)).filter(F.col("_k") == 1)
           .select("id", "term", F.col("root").alias("src")))
    new = new.join(src, ["id", "term"], "left").withColumn(
        "source_root", F.when(F.col("label") == "bled", F.coalesce("src", "r_other")))
    cols = ["id", "term", "root", "depth", "created_at", "label", "source_root"]
    inh = (u.filter(F.coalesce(F.col("inherited"), F.lit(False)))
           .withColumn("label", F.lit("inherited")).withColumn("source_root", F.lit(None).cast("string")))
    return inh.select(cols).unionByName(new.select(cols))


def _homogenisation(styles: "DataFrame", lineage: "DataFrame", window_s: float) -> "DataFrame":
    """:func:`lineage.bleed.homogenisation` as Spark aggregations (windows counted from the Unix epoch)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    us = int(round(window_s * 1e6))
    u = (styles.select("id", "term").distinct().join(lineage.select("id", "root", "created_at"), "id")
         .withColumn("window", F.timestamp_micros(F.floor(F.unix_micros("created_at") / us) * us)))
    counts = u.groupBy("window", "term").agg(F.count(F.lit(1)).alias("n"))
    p = F.col("n") / F.sum("n").over(Window.partitionBy("window"))
    ent = (counts.withColumn("p", p).groupBy("window")
           .agg((-F.sum(F.col("p") * F.log2("p"))).alias("entropy"), F.count(F.lit(1)).alias("terms")))
    prof = (u.groupBy("window", "root", "term").agg(F.count(F.lit(1)).alias("c"))
            .withColumn("unit", F.col("c") / F.sqrt(F.sum(F.col("c") ** 2).over(Window.partitionBy("window", "root")))))
    trees = prof.groupBy("window").agg(F.countDistinct("root").alias("trees"))
    sim = (prof.groupBy("window", "term").agg(F.sum("unit").alias("s")).groupBy("window")
           .agg(F.sum(F.col("s") ** 2).alias("ss")).join(trees, "window")
           .withColumn("mean_pairwise_similarity",
                       F.when(F.col("trees") > 1, (F.col("ss") - F.col("trees"))
                              / (F.col("trees") * (F.col("trees") - 1)))))
    posts = u.groupBy("window").agg(F.countDistinct("id").alias("posts"))
    return (posts.join(ent, "window").join(sim.select("window", "trees", "mean_pairwise_similarity"), "window")
            .select("window", "posts", "trees", "terms", "entropy", "mean_pairwise_similarity"))


def analyze_spark(archive: Archive, *, spark: "SparkSession | None" = None, master: str | None = None,
                  delta_jars: bool = False, buckets: int | None = None, seed: int = 0, n_boot: int = 200,
                  window: str = "30d", records_uri: str | None = None,
                  storage_options: dict[str, str] | None = None) -> dict[str, Any]:
    """Analyze ``archive`` with Spark and write the same ``analysis_*`` tables as :func:`lineage.analyze.analyze`.

    Every tree is recomputed (the Spark engine is for whole archives). ``records_uri``
    reads the log from elsewhere (e.g. ``s3a://bucket/archive``, the same store on
    object storage); ``buckets`` defaults to four per Spark core.

    >>> analyze_spark(Archive.open("remix-archive"), master="local[2]")["trees"]  # doctest: +SKIP
    61
    """
    import hashlib

    from pyspark.sql import functions as F

    from lineage.analyze import ANALYSIS_VERSION, TABLES, _headline, _table, decay_tables
    from lineage.bleed import bleed_rates, parse_window
    from lineage.styles import lexicon_path

    t_start = time.perf_counter()
    window_s = parse_window(window).total_seconds()
    spark = spark or spark_session(master, delta_jars=delta_jars)
    version = archive.version()
    views = spark_views(read_records(spark, records_uri or archive.path, delta_jars=delta_jars,
                                     storage_options=storage_options))
    posts, edges, lineage = views["posts"], views["edges"], views["lineage"]
    if excluded := archive.excluded_sources():  # as the local engine: these trees are kept but not measured
        lineage = lineage.filter(~F.regexp_extract("root", r"^([^:]*):", 1).isin(*excluded))
    nb = buckets or max(1, 4 * spark.sparkContext.defaultParallelism)
    nodes = (lineage.join(posts.select("id", "text", "style_tags", "views", "fetched_at"), "id", "left")
             .withColumn("text", F.coalesce("text", F.lit("")))
             .withColumn("bucket", F.pmod(F.xxhash64("root"), F.lit(nb))).persist())
    extra = (edges.select(F.col("child").alias("id"), "parent", "relation")
             .join(nodes.select("id", "root", "bucket"), "id"))
    work = (nodes.withColumn("kind", F.lit("n")).unionByName(extra.withColumn("kind", F.lit("e")),
                                                            allowMissingColumns=True)
            .repartition(nb, "bucket"))
    results = _map_in_arrow(work, _run_buckets, "table string, data binary").persist()
    tables: dict[str, pl.DataFrame] = {}
    payloads = results.filter(F.col("table").isin(*_PER_TREE)).collect()
    for t in _PER_TREE:
        frames = [pl.read_ipc(io.BytesIO(r["data"])) for r in payloads if r["table"] == t]
        tables[t] = pl.concat(frames, how="vertical_relaxed")
    tables["nodes"] = tables["nodes"].sort(["root", "depth", "id"])
    tables["edges"] = tables["edges"].sort(["root", "child", "parent"])
    tables["trees"] = tables["trees"].sort("root")
    styles = _map_in_arrow(results, _decoder("styles", _STYLE_COLS), spark_ddl(_STYLE_COLS)).persist()
    flags = _map_in_arrow(results, _decoder("flags", _FLAG_COLS), spark_ddl(_FLAG_COLS))

    labels_s = _labels(styles, flags, lineage, window_s).persist()
    labels = _collect(labels_s).sort(["id", "term"])
    flow = _collect(labels_s.filter((F.col("label") == "bled") & F.col("source_root").isNotNull())
                    .groupBy(F.col("source_root").alias("from_root"), F.col("root").alias("to_root"))
                    .agg(F.count(F.lit(1)).alias("adoptions")))
    tables["flow"] = flow.sort(["adoptions", "from_root", "to_root"], descending=[True, False, False])
    tables["homogenisation"] = _collect(_homogenisation(styles, lineage, window_s)).sort("window")
    trees_info = _collect(nodes.groupBy("root").agg(F.sum("views").cast("long").alias("views"))
                          .join(posts.select(F.col("id").alias("root"), F.col("text").alias("root_text")),
                                "root", "left")
                          .withColumn("root_text", F.coalesce("root_text", F.lit(""))))
    lin = _collect(lineage.select("id", "parent", "root", "depth", "created_at"))
    node_info = _collect(nodes.select("id", "root", "depth", "created_at", "fetched_at", "placeholder", "views",
                                      "in_cycle"))
    results.unpersist()

    labels = labels.join(tables["styles"].select("id", "term", "facet"), on=["id", "term"], how="left")
    node_bleed = bleed_rates(labels, level="node").select("id", "new_terms", "bled", "bleed_share")
    tree_bleed = bleed_rates(labels, level="tree")
    tables["nodes"] = tables["nodes"].join(node_bleed, on="id", how="left").sort(["root", "depth", "id"])
    tables["trees"] = (tables["trees"].join(tree_bleed, on="root", how="left")
                       .join(trees_info, on="root", how="left")
                       .sort(["size", "root"], descending=[True, False]))
    tables["style_labels"] = labels
    tables.update(decay_tables(tables["nodes"], lin, node_info, labels, n_boot=n_boot, seed=seed))
    versions = {t: archive.write_table(_table(t), tables[t]) for t in TABLES[:-1]}
    seconds = time.perf_counter() - t_start
    lex_hash = hashlib.sha256(lexicon_path().read_bytes()).hexdigest()[:16]
    run = pl.DataFrame({
        "at": [datetime.now(timezone.utc)], "store_version": [version], "trees": [tables["trees"].height],
        "trees_recomputed": [tables["trees"].height], "nodes": [node_info.height], "seconds": [seconds],
        "lexicon": [lex_hash], "analysis_version": [ANALYSIS_VERSION], "forced": [True],
    }, schema={"at": pl.Datetime("us", "UTC"), "store_version": pl.Int64, "trees": pl.Int64,
               "trees_recomputed": pl.Int64, "nodes": pl.Int64, "seconds": pl.Float64, "lexicon": pl.String,
               "analysis_version": pl.Int64, "forced": pl.Boolean})
    versions["runs"] = archive.write_table(_table("runs"), run, mode="append")
    return {
        "up_to_date": False, "engine": "spark", "spark_master": spark.sparkContext.master, "buckets": nb,
        "store_version": version, "trees": tables["trees"].height, "trees_recomputed": tables["trees"].height,
        "nodes": node_info.height, "edges": tables["edges"].height, "seconds": seconds, "table_versions": versions,
        **_headline(tables["decay"]),
    }
