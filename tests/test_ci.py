"""The CI workflows in the repository: they pass actionlint, `make lint` runs actionlint
on them (a broken workflow fails it, naming the file and line), and they run what the
README promises: check, test and the posted review on pull requests; the verified upgrade
with DATABASE_URL from a secret on deploy (and the same for GitLab)."""

import shutil
import subprocess
import sys
from pathlib import Path

from dbtools.core.paths import REPO_ROOT
from tests.harness import clean_env, make
from tests.repo_copy import copy_repo

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def test_the_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert files
    done = subprocess.run(
        [str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_they_run_the_documented_commands():
    pull = (WORKFLOWS / "pull-request.yml").read_text()
    deploy = (WORKFLOWS / "deploy.yml").read_text()
    gitlab = (REPO_ROOT / ".gitlab-ci.yml").read_text()
    for text in (pull, gitlab):
        for command in ("make check", "make test", "make -s review > review.md"):
            assert f"{command}\n" in text or f"{command}  #" in text, command
    assert "gh pr comment" in pull
    assert "DATABASE_URL: ${{ secrets.DATABASE_URL }}" in deploy
    for text in (deploy, gitlab):
        assert 'MIGRATION_VERIFY: "1"' in text
        assert "make upgrade\n" in text


def test_make_lint_fails_on_a_broken_workflow(tmp_path):
    root = copy_repo(tmp_path)
    shutil.copytree(REPO_ROOT / ".github", root / ".github")
    env = clean_env()
    assert make(root, "lint", env).returncode == 0
    broken = root / ".github" / "workflows" / "pull-request.yml"
    broken.write_text(broken.read_text().replace("runs-on: ubuntu-latest", "runs-on: [", 1))
    done = make(root, "lint", env)
    assert done.returncode != 0
    assert any(
        line.startswith(".github/workflows/pull-request.yml:") for line in done.stdout.splitlines()
    ), done.stdout
