"""Host-side preprocessing of the deploy runtime: the steps that run before a device artifact.

`steps` holds the ``preprocess.json`` format, `steps.HostKind` and `steps.run_steps`; `hosted` the
runner that puts the steps in front of an artifact; `encode` and `hashes` the NumPy math several
families share; one module per layer family reproduces that family's layer exactly (each family's
``edgeprep/families/<family>/host.py`` re-exports its module). NumPy only (pyfarmhash / siphash24
for the hashing kinds).
"""
