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


# --- Locations ---------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

import exconf.yamlsource as ys  # noqa: E402
from exconf.yamlsource import Location, ScalarSource, load_file  # noqa: E402


def test_location_prints_as_file_line_column():
    assert str(Location("a/b.yaml", 3, 7)) == "a/b.yaml:3:7"


def test_an_empty_document_has_no_data_and_a_location_at_its_start():
    doc = load_text("# only a comment\n", "f.yaml")
    assert doc.data is None
    assert str(doc.where(())) == "f.yaml:1:1"
    assert str(doc.where(("anything", 0))) == "f.yaml:1:1"


def test_where_of_the_root_and_of_an_unknown_top_level_key():
    doc = load_text("\n\n  a: 1\n", "f.yaml")
    assert str(doc.where(())) == "f.yaml:3:3"
    assert str(doc.where(("zz",))) == "f.yaml:3:3"


def test_where_falls_back_to_the_file_start_when_nothing_is_known():
    doc = ys.Document(data=None, file="g.yaml", locations={}, key_locations={}, scalars={})
    assert doc.where(("a", "b")) == Location("g.yaml", 1, 1)


def test_where_key_falls_back_to_the_value_then_the_parent():
    doc = load_text("a:\n  - x\n", "f.yaml")
    assert str(doc.where_key(("a",))) == "f.yaml:1:1"
    assert str(doc.where_key(("a", 0))) == "f.yaml:2:5"  # a list item has no key: its value's place
    assert str(doc.where_key(("a", 5))) == "f.yaml:2:3"  # unknown: the parent's place


def test_keys_and_values_of_nested_mappings_have_their_own_places():
    doc = load_text("top:\n  inner: {k: v}\n", "f.yaml")
    assert str(doc.where_key(("top", "inner", "k"))) == "f.yaml:2:11"
    assert str(doc.where(("top", "inner", "k"))) == "f.yaml:2:14"
    assert str(doc.where(("top", "inner"))) == "f.yaml:2:10"


# --- How scalars were written ----------------------------------------------------------------


def test_scalars_remember_their_text_and_whether_they_were_quoted():
    doc = load_text("a: 007\nb: '007'\nc: \"x\"\nd: |\n  block\n", "f.yaml")
    assert doc.scalars[("a",)] == ScalarSource("007", True)
    assert doc.scalars[("b",)] == ScalarSource("007", False)
    assert doc.scalars[("c",)] == ScalarSource("x", False)
    assert doc.scalars[("d",)] == ScalarSource("block\n", False)
    assert doc.data == {"a": 7, "b": "007", "c": "x", "d": "block\n"}


def test_a_list_item_scalar_is_remembered_at_its_index():
    doc = load_text("a: [x, 'y']\n", "f.yaml")
    assert doc.scalars[("a", 0)].plain and not doc.scalars[("a", 1)].plain


@pytest.mark.parametrize(
    ("text", "sexagesimal"),
    [
        ("12:00:00", True),
        ("1:30", True),
        ("-1:30", True),
        ("+1:30", True),
        ("190:20:30.15", True),
        ("1_000:30", True),
        ("1:5", True),
        ("1:60", False),
        ("1:30x", False),
        ("x1:30", False),
        (":30", False),
        ("30", False),
        ("1.00:00:00", False),
    ],
)
def test_which_plain_scalars_yaml_1_1_reads_as_base_60(text, sexagesimal):
    assert ScalarSource(text, plain=True).sexagesimal is sexagesimal
    assert ScalarSource(text, plain=False).sexagesimal is False


# --- Errors ----------------------------------------------------------------------------------


def test_duplicate_keys_in_a_nested_mapping_name_the_second_one():
    with pytest.raises(SourceError) as exc:
        load_text("a:\n  x: 1\n  y: 2\n  x: 3\n", "f.yaml")
    assert str(exc.value) == "f.yaml:4:3: duplicate key 'x'"


def test_malformed_yaml_says_what_the_parser_found():
    with pytest.raises(SourceError) as exc:
        load_text("a: [1, 2\nb: 3\n", "f.yaml")
    assert str(exc.value) == "f.yaml:2:2: invalid YAML: expected ',' or ']', but got ':'"


def test_two_documents_in_one_file_are_refused_at_the_second():
    with pytest.raises(SourceError) as exc:
        load_text("a: 1\n---\nb: 2\n", "f.yaml")
    assert str(exc.value) == "f.yaml:2:1: invalid YAML: but found another document"


def test_an_undefined_alias_is_named():
    with pytest.raises(SourceError) as exc:
        load_text("a: *nowhere\n", "f.yaml")
    assert str(exc.value) == "f.yaml:1:4: invalid YAML: found undefined alias 'nowhere'"


@pytest.mark.parametrize("text", ["? [a]\n: 1\n", "? {a: 1}\n: 1\n", "a: &a [1]\n? *a\n: 2\n"])
def test_a_mapping_key_must_be_a_plain_value(text):
    with pytest.raises(SourceError, match=r"^f.yaml:\d+:\d+: a mapping key must be a plain value$"):
        load_text(text, "f.yaml")


def test_an_unknown_tag_is_named():
    with pytest.raises(SourceError) as exc:
        load_text("a: 1\nb: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n", "f.yaml")
    assert str(exc.value) == "f.yaml:2:4: could not determine a constructor for the tag '!vault'"


def test_an_unknown_tag_on_a_key_is_named_at_the_key():
    with pytest.raises(SourceError) as exc:
        load_text("a: 1\n!weird b: 2\n", "f.yaml")
    assert str(exc.value) == "f.yaml:2:1: could not determine a constructor for the tag '!weird'"


@pytest.mark.parametrize(("text", "tag"), [("a: !!int x\n", "int"), ("a: 2024-13-01\n", "timestamp"), ("a: !!float x\n", "float")])
def test_a_value_its_tag_cannot_build_names_the_tag_not_the_value(text, tag):
    with pytest.raises(SourceError) as exc:
        load_text(text, "f.yaml")
    assert str(exc.value) == f"f.yaml:1:4: not a valid {tag} (YAML reads the unquoted value as one; put it in quotes)"


def test_a_control_character_on_the_first_line_is_placed_exactly():
    with pytest.raises(SourceError) as exc:
        load_text("ab\x1bc: 1\n", "f.yaml")
    assert str(exc.value) == "f.yaml:1:3: not a YAML text file: control character #x001b"


# --- Merge keys ------------------------------------------------------------------------------


def test_a_merge_key_brings_in_a_mapping_and_written_keys_override_it():
    doc = load_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert doc.data["d"] == {"x": 1, "y": 3}
    assert str(doc.where(("d", "y"))) == "f.yaml:4:6"
    assert str(doc.where(("d", "x"))) == "f.yaml:1:14"  # where the merged value was written


def test_a_merge_of_several_mappings_lets_the_first_win():
    doc = load_text("a: &a {x: 1}\nb: &b {x: 2, z: 3}\nd: {<<: [*a, *b]}\n", "f.yaml")
    assert doc.data["d"] == {"x": 1, "z": 3}


def test_a_merged_mapping_that_merges_another_keeps_its_own_overrides():
    doc = load_text("a: &a {x: 1, y: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n", "f.yaml")
    assert doc.data == {"a": {"x": 1, "y": 1}, "b": {"x": 1, "y": 2}, "c": {"x": 1, "y": 2, "z": 3}}


def test_an_inline_merge_of_a_merge_is_resolved_once():
    doc = load_text("a: &a {x: 1, y: 1}\nc: {<<: &b {<<: *a, y: 2}}\nd: *b\n", "f.yaml")
    assert doc.data["c"] == {"x": 1, "y": 2} and doc.data["d"] == {"x": 1, "y": 2}


def test_a_key_written_twice_beside_a_merge_is_still_a_duplicate():
    with pytest.raises(SourceError) as exc:
        load_text("b: &b {x: 1}\nd: {<<: *b, y: 3, y: 4}\n", "f.yaml")
    assert str(exc.value) == "f.yaml:2:19: duplicate key 'y'"


def test_merging_something_that_is_not_a_mapping_is_an_error():
    with pytest.raises(SourceError) as exc:
        load_text("a: {<<: 1}\n", "f.yaml")
    assert str(exc.value) == "f.yaml:1:9: expected a mapping or list of mappings for merging, but found scalar"


def test_a_merge_of_its_own_mapping_is_refused():
    with pytest.raises(SourceError) as exc:
        load_text("a: &a {x: 1, <<: *a}\n", "f.yaml")
    assert str(exc.value) == "f.yaml:1:4: a merge key (<<) refers to the mapping that contains it"


# --- Bounds ----------------------------------------------------------------------------------


def test_an_alias_to_its_own_container_is_refused():
    with pytest.raises(SourceError) as exc:
        load_text("a: &a [1, *a]\n", "f.yaml")
    assert str(exc.value) == "f.yaml:1:4: an alias refers to the value that contains it"


def test_an_alias_used_twice_side_by_side_is_not_a_cycle():
    doc = load_text("a: &a [1]\nb: [*a, *a]\n", "f.yaml")
    assert doc.data["b"] == [[1], [1]]
    assert doc.data["b"][0] is not doc.data["b"][1]  # each path gets its own value


def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused():
    deepest = "[" * ys.MAX_DEPTH + "]" * ys.MAX_DEPTH
    assert load_text(deepest, "f.yaml").data is not None
    with pytest.raises(SourceError) as exc:
        load_text("[" + deepest + "]", "f.yaml")
    assert str(exc.value) == f"f.yaml:1:{ys.MAX_DEPTH + 1}: nested deeper than {ys.MAX_DEPTH} levels; exconf refuses it"


def test_nesting_through_aliases_is_bounded_too():
    half = ys.MAX_DEPTH // 2 + 1
    text = "a: &a " + "[" * half + "]" * half + "\nb: " + "[" * half + "*a" + "]" * half + "\n"
    with pytest.raises(SourceError) as exc:
        load_text(text, "f.yaml")
    assert str(exc.value).endswith(f"nested deeper than {ys.MAX_DEPTH} levels (through aliases); exconf refuses it")
    fits = ys.MAX_DEPTH // 2 - 1
    ok = "a: &a " + "[" * fits + "]" * fits + "\nb: " + "[" * fits + "*a" + "]" * fits + "\n"
    assert load_text(ok, "f.yaml").data["b"] is not None


def test_alias_expansion_is_budgeted_beyond_what_is_written(monkeypatch):
    monkeypatch.setattr(ys, "MAX_ALIAS_EXPANSION", 0)
    assert load_text("[1, 2]", "f.yaml").data == [1, 2]  # no alias: within budget exactly
    with pytest.raises(SourceError) as exc:
        load_text("[&a [1], *a]", "f.yaml")
    assert str(exc.value) == "f.yaml:1:2: aliases repeat more than 0 values; exconf refuses the document"
    monkeypatch.setattr(ys, "MAX_ALIAS_EXPANSION", 2)
    assert load_text("[&a [1], *a]", "f.yaml").data == [[1], [1]]


def test_a_billion_laughs_is_refused():
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    with pytest.raises(SourceError, match=f"aliases repeat more than {ys.MAX_ALIAS_EXPANSION} values"):
        load_text("\n".join(lines), "f.yaml")


# --- Files -----------------------------------------------------------------------------------


def test_a_utf8_byte_order_mark_is_ignored(tmp_path: Path):
    f = tmp_path / "bom.yaml"
    f.write_bytes(b"\xef\xbb\xbfa: 1\nb: x\n")
    doc = load_file(f, "bom.yaml")
    assert doc.data == {"a": 1, "b": "x"}
    assert str(doc.where(("a",))) == "bom.yaml:1:4"


def test_a_file_is_named_as_displayed_or_by_its_path(tmp_path: Path):
    f = tmp_path / "x.yaml"
    f.write_text("a: [\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"^shown.yaml:2:1: invalid YAML"):
        load_file(f, "shown.yaml")
    with pytest.raises(SourceError, match=rf"^{f}:2:1: invalid YAML"):
        load_file(f)


def test_a_missing_file_and_a_folder_are_clear_errors(tmp_path: Path):
    with pytest.raises(SourceError) as exc:
        load_file(tmp_path / "nope.yaml", "nope.yaml")
    assert str(exc.value) == "nope.yaml: no such file"
    with pytest.raises(SourceError) as exc:
        load_file(tmp_path, "dir")
    assert str(exc.value) == "dir: cannot read: Is a directory"


def test_bytes_that_are_not_utf8_are_placed_by_line_and_column(tmp_path: Path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes("a: 1\nname: Zürich\n".encode("latin-1"))
    with pytest.raises(SourceError) as exc:
        load_file(f, "latin1.yaml")
    assert str(exc.value) == "latin1.yaml:2:8: not UTF-8 text (byte 0xfc)"


def test_a_file_at_the_size_limit_is_read_and_one_byte_more_is_refused(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ys, "MAX_FILE_BYTES", 2 * 1024 * 1024)
    f = tmp_path / "big.yaml"
    f.write_bytes(b"a: 1\n" + b"#" * (2 * 1024 * 1024 - 6) + b"\n")
    assert load_file(f, "big.yaml").data == {"a": 1}
    f.write_bytes(b"a: 1\n" + b"#" * (2 * 1024 * 1024 - 5) + b"\n")
    with pytest.raises(SourceError) as exc:
        load_file(f, "big.yaml")
    assert str(exc.value) == "big.yaml: larger than 2 MiB; exconf reads no bigger YAML file"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("\nab\x07", "2:3"),  # the only line break before it is the file's first character
        ("a\nb\n\nab\x07c", "4:3"),  # the last line break counts, not the first
        ("\n\n\x07", "3:1"),
    ],
)
def test_a_control_character_after_line_breaks_is_placed_exactly(text, where):
    with pytest.raises(SourceError) as exc:
        load_text(text, "f.yaml")
    assert str(exc.value) == f"f.yaml:{where}: not a YAML text file: control character #x0007"


@pytest.mark.parametrize(("raw", "where"), [(b"\nab\xff", "2:3"), (b"a\nb\n\nab\xffc", "4:3"), (b"\xff", "1:1")])
def test_a_byte_that_is_not_utf8_is_placed_exactly(tmp_path: Path, raw, where):
    f = tmp_path / "f.yaml"
    f.write_bytes(raw)
    with pytest.raises(SourceError) as exc:
        load_file(f, "f.yaml")
    assert str(exc.value) == f"f.yaml:{where}: not UTF-8 text (byte 0xff)"


@pytest.mark.parametrize(("m", "loads"), [(48, True), (49, False)])
def test_mappings_nested_through_an_alias_reach_exactly_the_limit(m, loads):
    # root (1), m mappings under b (2..m+1), the alias's 50 mappings (m+2..m+51), the scalar (m+52) <= 100
    text = "a: &a " + "{k: " * 50 + "1" + "}" * 50 + "\nb: " + "{k: " * m + "*a" + "}" * m + "\n"
    if loads:
        assert load_text(text, "f.yaml").data["b"] is not None
    else:
        with pytest.raises(SourceError, match=r"nested deeper than 100 levels \(through aliases\)"):
            load_text(text, "f.yaml")


def test_merge_keys_that_merge_merges_are_resolved_once_each():
    # Nine levels of nine merges: resolving each mapping once is linear; resolving every use is 9**9.
    lines = ["l0: &l0 {a: 0, b: 0, c: 0}"]
    lines += [f"l{i}: &l{i} {{<<: [{', '.join([f'*l{i - 1}'] * 9)}], x{i}: {i}}}" for i in range(1, 10)]
    doc = load_text("\n".join(lines) + "\n", "f.yaml")
    assert doc.data["l9"] == {"a": 0, "b": 0, "c": 0, **{f"x{i}": i for i in range(1, 10)}}


def test_merged_keys_keep_the_order_of_their_first_appearance():
    doc = load_text("a: &a {x: 1}\nb: &b {x: 2, z: 3}\nd: {<<: [*a, *b], w: 4}\n", "f.yaml")
    assert list(doc.data["d"].items()) == [("x", 1), ("z", 3), ("w", 4)]


def test_merging_a_list_with_something_else_than_mappings_is_an_error():
    with pytest.raises(SourceError) as exc:
        load_text("a: &a {x: 1}\nd: {<<: [*a, 1]}\n", "f.yaml")
    assert str(exc.value) == "f.yaml:2:14: expected a mapping for merging, but found scalar"


def test_a_merged_mapping_with_a_complex_key_is_refused():
    with pytest.raises(SourceError) as exc:
        load_text("a: &a {? [x] : 1}\nd: {<<: *a}\n", "f.yaml")
    assert str(exc.value) == "f.yaml:1:10: a mapping key must be a plain value"


def test_a_merge_key_inside_a_merged_mapping_is_resolved_before_it_is_merged():
    doc = load_text("d: {<<: {<<: {x: 1}, y: 2}, z: 3}\n", "f.yaml")
    assert doc.data == {"d": {"x": 1, "y": 2, "z": 3}}
