"""Build models that carry their preprocessing: spec or FeatureSpace → adapt → compose → check.

`builder.run_build` is the whole flow; ``edgeprep.build`` and ``edgeprep build`` call it.
Modules: `spec` (the TOML spec), `sources` (adapt data), `adapt` (layers ↔ their families'
analyzers, `edgeprep.families`; the one-pass plan), `beam` (the plan as a Beam pipeline),
`preprocessing` (sources resolved to layer chains or a model), `wire` (composition and its check),
and `builder` (the flow; it checks on `edgeprep.parity.samples.raw_samples` when given no data).
"""
