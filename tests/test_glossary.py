"""Glossary files: parsing, placeholder protection and restoration."""

import pytest

from shared.core.errors import UserError
from shared.translation import glossary


def write(tmp_path, text):
    path = tmp_path / "g.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_and_protect_restore(tmp_path):
    g = glossary.parse(write(tmp_path, "# names\nsource\ten\tta\nराहुल\tRahul\tராகுல்\nNew Delhi\t\tபுது தில்லி\nDelhi\tDilli\n"))
    masked, mapping = g.protect("राहुल New Delhi से Delhi गए।", "en")
    assert masked == "[2] [1] से [3] गए।"  # numbered longest term first
    assert mapping == {"1": "New Delhi", "2": "Rahul", "3": "Dilli"}
    assert glossary.Glossary.restore("[1] went from [2] to [ 3 ].", {"1": "Rahul", "2": "New Delhi", "3": "Dilli"}) == \
        "Rahul went from New Delhi to Dilli."
    assert g.protect("New Delhi", "ta")[1] == {"1": "புது தில்லி"}
    assert g.protect("Delhiwala", "en") == ("Delhiwala", {})  # whole words only for Latin terms
    assert g.hotwords() == "राहुल New Delhi Delhi"


@pytest.mark.parametrize("text,message", [
    ("term\ten\nx\ty\n", "first row must be 'source"),
    ("source\txx\n", "unknown language 'xx'"),
    ("source\ten\na\tb\tc\n", ":2: 3 columns but the header names 2"),
])
def test_malformed_glossary_is_a_one_line_error(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        glossary.parse(write(tmp_path, text))


def test_job_glossary_wins_over_global(tmp_path, monkeypatch):
    monkeypatch.setattr(glossary, "GLOBAL_PATH", write(tmp_path, "source\ten\nराहुल\tRahul\nमुंबई\tBombay\n"))
    job = tmp_path / "job"
    job.mkdir()
    (job / "glossary.tsv").write_text("source\ten\nमुंबई\tMumbai\n", encoding="utf-8")
    merged = glossary.load(job)
    assert merged.terms == {"राहुल": {"en": "Rahul"}, "मुंबई": {"en": "Mumbai"}}
