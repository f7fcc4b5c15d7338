"""jaxpretrain: classic pretraining methods as pure, jit-compiled, sharded JAX functions."""

from setuptools import find_packages, setup

setup(
    name="jaxpretrain",
    version="0.1.0",
    description="Classic deep-learning pretraining methods in JAX/Flax, sharded over a device mesh.",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["jaxpretrain", "jaxpretrain.*"]),
    python_requires=">=3.11",
    install_requires=[
        "jax>=0.10.2,<0.13",
        "flax>=0.12.8,<0.13",
        "optax>=0.2.8,<0.3",
        "orbax-checkpoint>=0.12.8,<0.13",
        "chex>=0.1.92,<0.2",
        "tensorflow-datasets>=4.9.10,<5",
        "grain>=0.2.18,<0.3",
        "ml_collections>=1.1,<2",
        "absl-py>=2.1,<3",
        "numpy>=2.0,<3",
        "scikit-learn>=1.5,<2",  # Digits; accuracy, F1, Matthews correlation (methods.scores).
        "scipy>=1.11,<2",  # Pearson and Spearman correlation (methods.scores).
        "scikit-image>=0.24,<1",  # sRGB <-> CIE Lab for colorization, and its bundled photos.
        "Pillow>=10,<13",
        "tqdm>=4.66,<5",
        "tensorboardX>=2.6,<3",
        "matplotlib>=3.8,<4",
        "tokenizers>=0.20,<1",  # BPE (GPT-2) and WordPiece (BERT) training.
        "sacrebleu>=2.4,<3",
        "mnist1d>=0.0.2,<0.1",  # Generates MNIST-1D locally (CPC on sequences); no download.
    ],
    extras_require={
        "test": ["pytest>=8,<10", "pytest-xdist>=3.5,<4", "hypothesis>=6.100,<7"],
        # Hugging Face interop (GPT-2 weights) and its reference tests against the PyTorch models.
        "interop": ["torch>=2.4", "transformers>=5,<6", "safetensors>=0.4"],
        # tf.data and building TFDS image data sets (tfds build cifar10 / imagenet2012) need TensorFlow.
        "data": ["tensorflow-cpu>=2.16"],
        # scripts/benchmark.py --peers: the same ResNet in eager PyTorch, timed in the same run.
        # scripts/peers/word_vectors.py: gensim's and fastText's cbow, timed in the same run.
        "peers": ["torch>=2.4", "torchvision>=0.19", "gensim>=4.3,<5", "fasttext-wheel>=0.9.2"],
        # Word-vector evaluation: the similarity and analogy sets gensim ships, Spearman ρ.
        "words": ["gensim>=4.3,<5", "scipy>=1.11"],
    },
)
