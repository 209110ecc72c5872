"""The documentation: a short README, every relative link leads to a file that exists and none leaves the
repository, and the generated reference is what the code generates now (and names every flag and key)."""
import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "bench" / "RESULTS.md", *sorted((ROOT / "docs").rglob("*.md"))]


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    found = set()
    for line in page.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_every_relative_link_exists_and_stays_in_the_repository():
    for page in documents():
        for target in LINK.findall(page.read_text()):
            assert "://" not in target, f"{page.name}: {target} leaves the repository"
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
            assert resolved.exists(), f"{page.relative_to(ROOT)}: {target} does not exist"
            if anchor and resolved.suffix == ".md":
                assert anchor in anchors(resolved), f"{page.relative_to(ROOT)}: no heading #{anchor} in {path}"


def test_the_generated_reference_is_current_and_complete():
    generator = runpy.run_path(str(ROOT / "docs" / "generate_reference.py"), run_name="reference")
    pages = generator["pages"]()
    for path, text in pages.items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run `make docs`"
    from cli import build_parser
    from configs.schema import EnsembleConfig, MemberConfig

    cli_page = pages[ROOT / "docs/reference/cli.md"]
    parser = build_parser()
    commands = next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    for name, sub in commands.choices.items():
        assert f"## `{name}`" in cli_page
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in cli_page or flag in ("-h", "--help", "--quiet", "--debug"), (name, flag)
    config_page = pages[ROOT / "docs/reference/config.md"]
    for model in (MemberConfig, EnsembleConfig):
        for section, field in model.model_fields.items():
            nested = getattr(field.annotation, "model_fields", None)
            keys = [f"{section}.{key}" for key in nested] if nested else [section]
            assert all(f"`{key}`" in config_page for key in keys), section


def test_the_file_and_task_references_name_every_key():
    """Every key of every JSON file model and of the task file appears in its generated page."""
    from configs.files import RunState
    from configs.task import TaskSpec
    generator = runpy.run_path(str(ROOT / "docs" / "generate_reference.py"), run_name="reference")
    pages = generator["pages"]()
    for page, models in (("files.md", generator["FILES"]), ("task-file.md", (TaskSpec,))):
        text = pages[ROOT / "docs/reference" / page]
        for model in models:
            for name, field in model.model_fields.items():
                nested = getattr(field.annotation, "model_fields", None)
                keys = [f"{name}.{key}" for key in nested] if nested and model is not RunState else [name]
                assert all(f"| `{key}" in text for key in keys), (page, model.__name__, name)  # deeper keys follow
