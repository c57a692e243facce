"""One source per entry: every loss has a SymPy form or a recorded reason, the displayed formula of an
entry with a form is derived from it, and every chapter an entry names is a page of ``_toc.yml``."""

import pytest
import sympy as sp

import segmath
from segmath import symbolic as S
from segmath.catalogue import Aggregate, NoForm, Pixel, register
from tools import book as book_tool

ENTRIES = segmath.catalogue()
LOSSES = segmath.catalogue("loss")


def _toc_pages():
    """Docnames under book/ that _toc.yml lists, read now: other work adds chapters."""
    return {f.removeprefix("book/") for f in book_tool.toc_docs() if f.startswith("book/")}


@pytest.mark.parametrize("entry", LOSSES, ids=[e.id for e in LOSSES])
def test_every_loss_has_a_form_or_a_reason(entry):
    assert entry.forms or isinstance(entry.symbolic, NoForm), \
        f"{entry.id}: give register(..., symbolic=<form>) or symbolic=NoForm('why not')"
    if isinstance(entry.symbolic, NoForm):
        assert len(entry.symbolic.reason) > 30, f"{entry.id}: say why there is no form"


def test_form_count():
    """Before issue 8: 17 losses with a form, 0 with a reason, 15 with neither."""
    with_form = [e.id for e in LOSSES if e.forms]
    with_reason = [e.id for e in LOSSES if isinstance(e.symbolic, NoForm)]
    assert len(with_form) + len(with_reason) == len(LOSSES)
    assert len(with_form) >= 21, with_form


def test_only_losses_carry_forms():
    assert all(not e.forms for e in ENTRIES if e.kind != "loss")


@pytest.mark.parametrize("entry", [e for e in LOSSES if e.forms], ids=[e.id for e in LOSSES if e.forms])
def test_formula_is_derived_from_the_form(entry):
    """No second formula beside the form: the displayed one is sympy.latex of the form."""
    assert entry.given_formula == ""
    assert entry.formula == S.formula(entry.id)
    for form in entry.forms:
        name = entry.id + (f":{form.label}" if form.label else "")
        _, syms = S.loss_expr(name, "probs", n=None)
        for key, sym in syms.params.items():          # every parameter is displayed
            shown = "w_{" if isinstance(sym, tuple) else {"smooth": "s", "exponent": "q"}.get(key, sp.latex(sym))
            assert shown in entry.formula, (entry.id, key)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if not e.forms], ids=[e.id for e in ENTRIES if not e.forms])
def test_entries_without_a_form_give_their_formula(entry):
    assert entry.formula.strip(), entry.id


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_chapter_is_a_page_of_the_toc(entry):
    pages = _toc_pages()
    assert entry.chapter is None or entry.chapter in pages, \
        f"{entry.id}: chapter {entry.chapter!r} is not in _toc.yml; use chapter=None, planned_chapter=..."
    assert entry.planned_chapter not in pages, \
        f"{entry.id}: {entry.planned_chapter} is in _toc.yml now: make it the entry's chapter"


def test_book_tool_reads_the_same_pages():
    """tools/book.py links an entry's chapter exactly when this test accepts it."""
    from tools import book
    pages = _toc_pages()
    assert {"01_counts", "04_overlap"} <= pages
    assert {d.removeprefix("book/") for d in book.toc_docs()} == pages
    for e in ENTRIES:
        assert book.chapter_doc(e.chapter) == e.chapter
        assert book.chapter_doc(e.planned_chapter) is None


def _fn(input, target, *, smooth=1e-5, reduction="mean"):
    """A stand-in loss."""


def test_register_rejects_a_second_formula_and_an_empty_reason():
    example = lambda seed: ((), {})  # noqa: E731
    with pytest.raises(ValueError, match="derived"):
        register("_t1", kind="loss", name="t", example=example, formula="L = 1",
                 symbolic=Aggregate("1 - I"))(_fn)
    with pytest.raises(ValueError, match="reason"):
        NoForm("  ")
    with pytest.raises(TypeError, match="symbolic"):
        register("_t2", kind="loss", name="t", example=example, symbolic="1 - I")(_fn)
    with pytest.raises(ValueError, match="label"):
        register("_t3", kind="loss", name="t", example=example,
                 symbolic=(Pixel("p"), Pixel("1 - p")))(_fn)


def test_unknown_name_in_a_form_is_an_error():
    import sys

    from segmath.symbolic import parse
    cat = sys.modules["segmath.catalogue"]
    register("_t4", kind="loss", name="t", example=lambda seed: ((), {}),
             symbolic=Aggregate("1 - (2*I + smoooth)/(S_p + S_y)"))(_fn)
    try:
        with pytest.raises(ValueError, match="unknown name"):
            parse.compact("_t4")
    finally:
        cat._REGISTRY.pop("_t4")
        parse.compact.cache_clear()


def test_entries_stay_hashable():
    """As before the forms were added (a set of entries, a cache keyed by one)."""
    assert len({e for e in ENTRIES}) == len(ENTRIES)
