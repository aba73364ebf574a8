"""The docs site builds with `mkdocs build --strict`: a broken link or anchor, or an API object that no longer exists
(a renamed function), fails the build and so this test. Also: every `python bench/X.py` the docs cite exists, and
every public name of `yolo_transfer` has its entry in the Python API reference."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
CONFIG = REPO / "mkdocs.yml"
API_PAGE = DOCS / "reference" / "python.md"


def _env() -> dict[str, str]:
    # quiet Material's MkDocs-2.0 banner; keep bytecode out of docs/ (the hook is imported from there)
    return {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    try:
        import mkdocs  # noqa: F401
        import mkdocs_click  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError as e:  # a failure, not a skip: CI must build the docs
        pytest.fail(f"the docs tools are not installed ({e}); run: pip install -e '.[docs]' (the dev extra has them)")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "--site-dir",
                           str(site)], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=240)


def _problems(proc: subprocess.CompletedProcess) -> str:
    lines = [l for l in (proc.stdout + proc.stderr).splitlines() if re.match(r"\s*(WARNING|ERROR)", l)]
    return "\n".join(lines) or (proc.stdout + proc.stderr)[-3000:]


def test_site_builds_strict(tmp_path):
    proc = _build(CONFIG, tmp_path / "site")
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{_problems(proc)}"
    for page in ("index.html", "reference/python/index.html", "reference/cli/index.html",
                 "reference/tables/index.html", "evidence/index.html", "changelog/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    for command in ("train", "compare", "recommend", "export", "predict", "demo", "data convert"):
        assert f"yolo-transfer {command}" in cli, f"CLI reference lacks `yolo-transfer {command}`"
    tables = (tmp_path / "site" / "reference" / "tables" / "index.html").read_text()
    assert "<!-- table:" not in tables and "frozen-backbone" in tables and "end2end" in tables


def test_strict_build_catches_broken_links_and_unknown_api(tmp_path):
    """The same configuration on two small pages: a dead link, a dead anchor and a missing API object must each fail
    the build, where the same pages without them build."""
    config = yaml.safe_load(CONFIG.read_text())
    for name, page in {
        "sound page": "# Page\n\nSee [a section](other.md#a-section).\n\n::: yolo_transfer.transfer.train\n",
        "dead link": "# Page\n\nSee [the guide](guides/no-such-page.md).\n",
        "dead anchor": "# Page\n\nSee [the gate](other.md#no-such-section).\n",
        "unknown API object": "# Page\n\n::: yolo_transfer.transfer.no_such_function\n",
    }.items():
        docs = tmp_path / name.replace(" ", "-") / "docs"
        docs.mkdir(parents=True)
        (docs / "index.md").write_text(page)
        (docs / "other.md").write_text("# Other\n\n## A section\n")
        cfg = {**config, "docs_dir": str(docs), "nav": ["index.md", "other.md"],
               "hooks": [str(DOCS / "hooks.py")]}
        for plugin in cfg["plugins"]:  # mkdocstrings' search path is relative to the config file: point it here
            if isinstance(plugin, dict) and "mkdocstrings" in plugin:
                plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(REPO)]
        cfg_path = docs.parent / "mkdocs.yml"
        cfg_path.write_text(yaml.safe_dump(cfg))
        proc = _build(cfg_path, docs.parent / "site")
        if name == "sound page":
            assert proc.returncode == 0, f"the minimal site does not build:\n{_problems(proc)}"
        else:
            assert proc.returncode != 0, f"a {name} did not fail `mkdocs build --strict`"


def _doc_texts() -> dict[Path, str]:
    texts = {p: p.read_text() for p in DOCS.rglob("*.md")}
    texts[REPO / "README.md"] = (REPO / "README.md").read_text()
    return texts


def test_every_cited_bench_script_exists():
    cited = {}
    for path, text in _doc_texts().items():
        for script in re.findall(r"python (bench/[\w./-]+\.py)", text):
            cited.setdefault(script, path.relative_to(REPO))
    assert cited, "the docs cite no `python bench/...` command"
    missing = {s: str(p) for s, p in cited.items() if not (REPO / s).is_file()}
    assert not missing, f"docs cite bench scripts that do not exist: {missing}"


def test_every_public_name_is_in_the_api_reference():
    import yolo_transfer

    directives = set(re.findall(r"^::: ([\w.]+)", API_PAGE.read_text(), flags=re.M))
    missing = []
    for name in yolo_transfer.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(yolo_transfer, name)
        where = f"{obj.__module__}.{obj.__qualname__}"
        if where not in directives:
            missing.append(f"{name} (::: {where})")
    assert not missing, f"public names without an entry in {API_PAGE.relative_to(REPO)}: {', '.join(missing)}"


def test_readme_links_into_the_docs_exist():
    """The README links into docs/ by relative path (they work on GitHub before the site is published)."""
    text = (REPO / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#\s]+)", text)
    assert links, "the README has no links into docs/"
    missing = sorted({l for l in links if not (REPO / l).is_file()})
    assert not missing, f"README links to missing docs pages: {missing}"


def _cli_lines(text: str) -> list[str]:
    """`yolo-transfer ...` command lines in fenced code blocks (continuation lines joined, comments dropped)."""
    out = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            m = re.search(r"(?:^|&& |\.venv/bin/)yolo-transfer (.*)", line)
            if m:
                out.append(m.group(1))
    return out


def test_cli_options_in_the_docs_exist():
    """Every `--option` the docs and README show on a `yolo-transfer` command line is an option of that command."""
    import click

    from yolo_transfer.cli import main

    wrong = []
    for path, text in _doc_texts().items():
        for line in _cli_lines(text):
            cmd, words = main, line.split()
            while words and isinstance(cmd, click.Group) and words[0] in cmd.commands:
                cmd = cmd.commands[words.pop(0)]
            if cmd is main:
                continue  # `yolo-transfer --help` and the like
            known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
            for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", " ".join(words)):
                if opt not in known:
                    wrong.append(f"{path.relative_to(REPO)}: yolo-transfer {cmd.name} has no {opt}")
    assert not wrong, "\n".join(sorted(set(wrong)))
