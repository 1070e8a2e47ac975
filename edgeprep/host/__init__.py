"""Host-side preprocessing: the steps that run before a device artifact, and ``preprocess.json``.

No TensorFlow or Keras import here: this package runs next to the artifact. `steps` holds the
``preprocess.json`` format and `steps.run_steps`; `runner` the runner of a host split; `encode`
and `hashing` the NumPy math several families' host code shares. Each layer's own host
implementation lives with its family (``edgeprep/families/<family>/host.py``).
"""
