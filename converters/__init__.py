"""Export backends: one folder per target, each with ``convert.py`` (needs TensorFlow) and
``runner.py`` (needs only its runtime)."""
