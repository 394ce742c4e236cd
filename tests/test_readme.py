"""README's two commands stay runnable: CI runs the test command verbatim."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _commands():
    return re.findall(r"```bash\n(.*?)\n```", (REPO / "README.md").read_text(), flags=re.S)[:2]


def test_ci_runs_the_readme_test_command():
    install_and_run, run_tests = _commands()
    assert "pytest" in run_tests and "\n" not in run_tests
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert ci_lines[-1] == run_tests


def test_readme_first_command_installs_and_runs_the_main_job():
    install_and_run, _ = _commands()
    assert "pip install" in install_and_run and "rnastruct predict " in install_and_run
