"""Export backends: one folder per target, each with ``backend.py`` (the `edgeprep.backend.Backend`
that edgeprep finds through `edgeprep.backend.BACKENDS`), ``options.py`` (its options),
``convert.py`` (needs TensorFlow) and ``runner.py`` (needs only its runtime)."""
