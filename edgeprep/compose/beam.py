"""Adapt as an Apache Beam pipeline: the same analyzers, for data that outgrows one machine.

    shards --Create--> FlatMap(read batches) --CombineGlobally(AdaptPlan)--> write the accumulator

The combiner is `edgeprep.compose.adapt.AdaptPlan` itself (``create`` / ``add`` / ``merge``), so a
Beam runner computes what the local runner computes. Beam's pipeline options pass through
unchanged: DirectRunner by default; ``--runner=FlinkRunner`` / ``SparkRunner`` /
``DataflowRunner`` with their own flags. The merged accumulator is written under
``--temp_location`` (a local temporary directory by default) and read back by this process, which
then sets the layers' state. Shards are read through Beam's filesystems, so ``gs://`` or ``s3://``
paths work where Beam has the filesystem installed.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import tempfile
import uuid

from edgeprep.compose.adapt import AdaptPlan
from edgeprep.compose.sources import read_shard, read_source, shard_stream
from edgeprep.data import DataKind, DataSource, is_remote
from edgeprep.errors import UsageError


def run_beam(plan: AdaptPlan, source: DataSource, options: tuple[str, ...] = ()) -> tuple[int, list]:
    """Run the adapt pass as a Beam pipeline; the accumulator for `AdaptPlan.apply`.

    Args:
        plan: the analyzers.
        source: shard files (or in-memory arrays, sent as batches).
        options: Beam pipeline flags, e.g. ``("--runner=DirectRunner", "--direct_num_workers=2")``.

    Raises:
        UsageError: Apache Beam is not installed, or rejects the options.
    """
    try:
        import apache_beam as beam
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions
    except ImportError:
        raise UsageError("--runner beam needs Apache Beam; install it with pip install 'edgeprep[beam]'") from None

    messages = io.StringIO()
    try:
        with contextlib.redirect_stderr(messages):
            pipeline_options = PipelineOptions(list(options))
            pipeline_options.get_all_options(retain_unknown_options=True)  # parse now: argparse exits on a bad value
            temp_location = pipeline_options.view_as(GoogleCloudOptions).temp_location
    except (SystemExit, ValueError) as exc:
        reason = (messages.getvalue().strip().splitlines() or [str(exc)])[-1].split("error: ", 1)[-1]
        raise UsageError(f"--beam-option {' '.join(options)}: Beam rejects these pipeline options ({reason})") from None
    local_dir = None if temp_location else tempfile.mkdtemp(prefix="edgeprep-beam-")
    result_path = FileSystems.join(temp_location or local_dir, f"edgeprep-adapt-{uuid.uuid4().hex}.pickle")

    class PlanCombineFn(beam.CombineFn):
        def create_accumulator(self):
            return plan.create()

        def add_input(self, acc, batch):
            return plan.add(acc, batch)

        def merge_accumulators(self, accs):
            return plan.merge(accs)

        def extract_output(self, acc):
            return acc

    columns = plan.columns
    kind = source.kind
    with beam.Pipeline(options=pipeline_options) as pipeline:
        if kind is DataKind.MEMORY:
            batches = pipeline | "batches" >> beam.Create(list(read_source(source, columns)))
        else:
            shards = [p if is_remote(p) else os.path.abspath(p) for p in source.paths]
            batches = (
                pipeline
                | "shards" >> beam.Create(shards)
                | "read" >> beam.FlatMap(_read, kind, columns)
            )
        _ = (
            batches
            | "analyze" >> beam.CombineGlobally(PlanCombineFn())
            | "write" >> beam.Map(_write, result_path)
        )
    with FileSystems.open(result_path) as handle:
        acc = pickle.load(handle)  # written by the pipeline above, under our own temp location
    FileSystems.delete([result_path])
    if local_dir:
        os.rmdir(local_dir)
    return acc


def _read(path: str, kind: DataKind, columns):
    with shard_stream(path) as handle:
        yield from read_shard(handle, path, kind, columns)


def _write(acc, path: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path) as handle:
        handle.write(pickle.dumps(acc))
