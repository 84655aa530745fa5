"""`iii-kafka schemas check` against a baseline folder, and the tree against its released versions."""

from __future__ import annotations

from pathlib import Path

from iii_kafka.processors.cli import main

FIXTURES = Path(__file__).parent.parent / "fixtures" / "schemas"
RELEASED = Path(__file__).parent.parent.parent / "schemas" / "released"


def _check(baseline: Path, schemas: Path) -> int:
    return main(["schemas", "check", "--baseline", str(baseline), "--schemas", str(schemas)])


def test_a_compatible_change_passes(capsys):
    assert _check(FIXTURES / "v1", FIXTURES / "v2") == 0
    assert "1 schemas read all 1 earlier version(s)" in capsys.readouterr().out


def test_a_breaking_change_fails_naming_the_field_and_the_rule(capsys):
    code = _check(FIXTURES / "v1", FIXTURES / "v3-breaking")
    out = capsys.readouterr().out
    assert code == 1
    assert "incompatible: shop.OrderPlaced" in out
    assert "field amount, customer" in out
    assert "type_mismatch" in out and "reader_field_missing_default_value" in out
    assert "1 breaking change(s)" in out


def test_removing_an_enum_symbol_breaks(tmp_path, capsys):
    (tmp_path / "shop.OrderPlaced.avsc").write_text((FIXTURES / "v1" / "shop.OrderPlaced.avsc").read_text()
                                                     .replace('["placed", "paid"]', '["placed"]'))
    assert _check(FIXTURES / "v1", tmp_path) == 1
    assert "missing_enum_symbols" in capsys.readouterr().out


def test_the_tree_reads_every_released_version(capsys):
    """What CI runs: the engine's schemas against all their released versions."""
    assert main(["schemas", "check", "--baseline", str(RELEASED)]) == 0


def test_a_missing_baseline_is_one_line(capsys):
    assert main(["schemas", "check", "--baseline", "/nonexistent/baseline"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == "iii-kafka: error: baseline /nonexistent/baseline is not a directory"
