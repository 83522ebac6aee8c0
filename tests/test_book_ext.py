"""The book's Sphinx helpers (book/_ext/rift_book.py), on hand-written docstrings."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
_spec = importlib.util.spec_from_file_location("rift_book", Path(__file__).resolve().parents[1] / "book/_ext/rift_book.py")
rift_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rift_book)


def _fields(lines):
    rift_book.compact_fields(None, "class", "x", None, {}, lines)
    return lines


def test_compact_field_becomes_name_and_indented_description():
    lines = ["Doc.", "", "Parameters", "----------", "seeds: how many datasets.", "horizon : int", "    steps."]
    assert _fields(lines) == ["Doc.", "", "Parameters", "----------", "seeds", "    how many datasets.",
                              "horizon : int", "    steps."]


def test_attributes_naming_several_are_repeated_with_their_description():
    lines = ["Attributes", "----------", "a, b: the pair", "    continued.", "c", "    alone."]
    assert _fields(lines) == ["Attributes", "----------", "a", "    the pair", "    continued.",
                              "b", "    the pair", "    continued.", "c", "    alone."]
    lines = ["Attributes", "----------", "Q, V", "    values."]
    assert _fields(lines) == ["Attributes", "----------", "Q", "    values.", "V", "    values."]


def test_lines_outside_field_sections_and_literal_blocks_are_kept():
    lines = ["Example: not a field.", "", "Returns", "-------", "x: kept as numpydoc reads it", "", "note::"]
    assert _fields(list(lines)) == lines


def test_book_labels_become_references():
    lines = ["as the book's ``thm-residual-form`` proves (see the book's ``safe-learning``);",
             "``cor-safe-improvement`` too, but not ``alpha``."]
    rift_book.book_labels(None, "function", "f", None, {}, lines)
    assert lines == ["as the book's :prf:ref:`thm-residual-form` proves (see the book's :ref:`safe-learning`);",
                     ":prf:ref:`cor-safe-improvement` too, but not ``alpha``."]


def test_canonical_name_of_a_reexported_object():
    import rift_core

    assert rift_book._canonical(rift_core.solve_rift) == "rift_core.exact.rift.solve_rift"
    assert rift_book._canonical(rift_core.exact) == "rift_core.exact"
    assert rift_book._canonical(len) is None  # not rift_core's
    assert rift_book._import("rift_core.neural.Trainer").__module__ == "rift_core.neural.trainer"
    assert rift_book._import("rift_core.no_such_name") is None
