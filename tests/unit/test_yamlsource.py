import pytest

from exconf.yamlsource import SourceError, load_text


def test_every_value_has_a_line_and_column():
    doc = load_text("a:\n  b: 1\n  c:\n    - x\n    - y\n", "f.yaml")
    assert doc.data == {"a": {"b": 1, "c": ["x", "y"]}}
    assert str(doc.where(("a", "b"))) == "f.yaml:2:6"
    assert str(doc.where_key(("a", "b"))) == "f.yaml:2:3"
    assert str(doc.where(("a", "c", 1))) == "f.yaml:5:7"
    assert str(doc.where(("a", "missing"))) == "f.yaml:2:3"  # nearest known parent


def test_duplicate_keys_are_errors_not_last_wins():
    with pytest.raises(SourceError, match=r"f.yaml:3:1: duplicate key 'a'"):
        load_text("a: 1\nb: 2\na: 3\n", "f.yaml")


def test_malformed_yaml_names_the_place():
    with pytest.raises(SourceError, match=r"^f.yaml:2:\d+: invalid YAML"):
        load_text("a: [1, 2\nb: 3\n", "f.yaml")


def test_sexagesimal_scalars_are_remembered():
    doc = load_text("t: 12:00:00\nq: '12:00:00'\n", "f.yaml")
    assert doc.data["t"] == 43200  # YAML 1.1 base 60
    assert doc.scalars[("t",)].sexagesimal
    assert not doc.scalars[("q",)].sexagesimal
