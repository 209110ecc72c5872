"""Optional metric sinks: TensorBoard when installed, Weights & Biases when enabled."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from configs.schema import RunConfig
from errors import UserError


class MetricLoggers:
    """Sends each epoch's scalars to every configured sink."""

    def __init__(self, config: RunConfig, run_dir: Path, name: str, settings: dict[str, Any]):
        self.sinks: list[Any] = []
        if config.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.sinks.append(SummaryWriter(str(run_dir / "tensorboard")))
            except ImportError:
                pass  # TensorBoard is optional; log.csv always has the numbers
        if config.wandb:
            try:
                import wandb
            except ImportError:
                raise UserError("run.wandb is true but wandb is not installed: pip install wandb") from None
            self.sinks.append(wandb.init(project=config.wandb_project, name=name, dir=str(run_dir),
                                         config=settings, reinit=True))

    def log(self, epoch: int, metrics: dict[str, float]) -> None:
        for sink in self.sinks:
            if hasattr(sink, "add_scalar"):
                for key, value in metrics.items():
                    sink.add_scalar(key, value, epoch)
            else:
                sink.log({**metrics, "epoch": epoch})

    def close(self) -> None:
        for sink in self.sinks:
            (sink.close if hasattr(sink, "close") else sink.finish)()
