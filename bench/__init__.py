"""lrkit's benchmarks (not shipped with the package).

- ``python -m bench.overhead``    per-``step()`` cost of the PyTorch adapter against the others
- ``python -m bench.vectorised``  a whole 10M-step curve from one numpy call against stepping torch
- ``python -m bench.compiled``    recompiles and wall time of a ``torch.compile``d optimizer step
- ``python -m bench.quality``     what each schedule does to real training (CNN, transformer)

Each writes a markdown report under ``bench/results/`` that names the machine and the command.
"""
