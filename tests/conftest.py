import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.synthetic import make_handbone, make_kvasir  # noqa: E402


@pytest.fixture(scope="session")
def handbone_root(tmp_path_factory) -> Path:
    """4 labelled patients (8 hands) + 1 test patient at 128 px."""
    return make_handbone(tmp_path_factory.mktemp("handbone"), patients=4, test_patients=1, size=128, seed=1)


@pytest.fixture(scope="session")
def kvasir_root(tmp_path_factory) -> Path:
    return make_kvasir(tmp_path_factory.mktemp("kvasir"), train=12, validation=4, test=4, size=64, seed=2)


@pytest.fixture
def run_cli(capsys):
    """Run cli.main and return (exit code, stdout, stderr)."""
    from cli import main

    def run(*argv: str):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
