"""The quick tier's rule (tests/conftest.py): a test not marked slow cannot
launch Python, and the refusal says how to fix it."""
import subprocess
import sys

import pytest


def test_unmarked_test_cannot_launch_this_interpreter():
    with pytest.raises(RuntimeError, match=r'mark the test @pytest\.mark\.slow'):
        subprocess.run([sys.executable, '-c', 'pass'], check=True)


def test_unmarked_test_cannot_launch_python_through_a_script(tmp_path):
    with pytest.raises(RuntimeError, match='launches Python'):
        subprocess.run(['bash', '-c', '"$PYTHON" -c pass'], check=True,
                       env={'PYTHON': sys.executable})


def test_unmarked_test_may_run_other_programs():
    out = subprocess.run(['bash', '-c', 'echo quick'], capture_output=True,
                         text=True, check=True, env={'PYTHON': 'python'})
    assert out.stdout == 'quick\n'


@pytest.mark.slow
def test_slow_test_launches_python():
    out = subprocess.run([sys.executable, '-c', 'print(6 * 7)'],
                         capture_output=True, text=True, check=True)
    assert out.stdout == '42\n'
