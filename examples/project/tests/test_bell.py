import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bell import bell  # noqa: E402


def test_only_correlated_outcomes():
    counts = bell(shots=2000)
    assert set(counts) <= {"00", "11"}
    assert abs(counts["00"] - 1000) < 150


if __name__ == "__main__":
    test_only_correlated_outcomes()
    print("ok")
