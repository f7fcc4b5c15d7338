"""jaxpretrain: classic pretraining methods as pure functions that jit and shard over a mesh.

Subpackages, lowest layer first (a module imports only its own layer or lower; see
``scripts/import_graph.py``): ``errors``, ``config``, ``cli``, ``parallel``, ``losses`` (public
loss primitives), ``models``, ``data`` < ``interop`` < ``methods`` < ``train`` < ``evaluate``.
Import what you use, e.g. ``from jaxpretrain import losses``.
"""

__version__ = "0.1.0"
