import accord


def test_version() -> None:
    assert accord.__version__
