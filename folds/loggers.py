"""Metric sinks beside log.csv: TensorBoard (`run.tensorboard`), Weights & Biases (`run.wandb`, optional)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from configs.schema import RunConfig
from errors import UserError


class MetricLoggers:
    """Sends each epoch's scalars to every configured sink."""

    def __init__(self, config: RunConfig, run_dir: Path, name: str, settings: dict[str, Any]):
        """The sinks `config` asks for (TensorBoard, wandb) in `run_dir`, the run named `name` with `settings`."""
        self.sinks: list[Any] = []
        if config.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UserError("run.tensorboard is true but tensorboard is not installed: "
                                "pip install -r requirements.txt, or set run.tensorboard: false") from None
            self.sinks.append(SummaryWriter(str(run_dir / "tensorboard")))
        if config.wandb:
            try:
                import wandb
            except ImportError:
                raise UserError("run.wandb is true but wandb is not installed: pip install wandb") from None
            self.sinks.append(wandb.init(project=config.wandb_project, name=name, dir=str(run_dir),
                                         config=settings, reinit=True, mode=config.wandb_mode))

    def log(self, epoch: int, metrics: dict[str, float]) -> None:
        """Send one epoch's metrics to every sink."""
        for sink in self.sinks:
            if hasattr(sink, "add_scalar"):
                for key, value in metrics.items():
                    sink.add_scalar(key, value, epoch)
            else:
                sink.log({**metrics, "epoch": epoch})

    def close(self) -> None:
        """Flush and close every sink."""
        for sink in self.sinks:
            (sink.close if hasattr(sink, "close") else sink.finish)()
