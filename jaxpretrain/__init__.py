"""jaxpretrain: classic pretraining methods as pure functions that jit and shard over a mesh.

Subpackages: ``losses`` (public loss primitives), ``models``, ``methods``, ``data``, ``train``,
``parallel``. Import what you use, e.g. ``from jaxpretrain import losses``.
"""

__version__ = "0.1.0"
