"""The PyTorch peer for the ResNet benchmarks: the same network in eager PyTorch.

torchvision's ResNet with ``GroupNorm(32, C)`` in place of BatchNorm is, layer for layer and
parameter for parameter, our ``models.resnet(variant)`` (25,557,032 parameters for ResNet-50), so
its images/s is the number ours is compared with. Optional: needs ``torch`` and ``torchvision``.
"""

from __future__ import annotations

from typing import Callable

try:
    from peers.torch_common import timer, torch_setup
except ImportError:  # Loaded with scripts/peers/ importable as top-level modules (the tests).
    from torch_common import timer, torch_setup


def torch_resnet_trainer(
    variant: str, *, batch_size: int, image_size: int, num_classes: int, dtype: str
) -> Callable[[int], float]:
    """A warmed-up training loop: ``time_steps(n)`` runs n SGD-with-momentum steps on one fixed
    batch and returns images/s (``peers.torch_common.torch_setup``: every CPU, TF32 on CUDA)."""
    import torchvision

    setup = torch_setup(dtype)
    torch, device = setup.torch, setup.device
    model = getattr(torchvision.models, variant)(
        num_classes=num_classes, norm_layer=lambda channels: torch.nn.GroupNorm(32, channels)
    ).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    images = torch.randn(batch_size, 3, image_size, image_size, device=device).to(
        memory_format=torch.channels_last
    )
    labels = torch.randint(0, num_classes, (batch_size,), device=device)

    def step():
        with setup.autocast:
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return timer(setup, step, items_per_step=batch_size)
