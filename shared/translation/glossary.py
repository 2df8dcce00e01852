"""Glossary: names and terms that must come through translation as the user wrote them.

A glossary is a tab-separated file. Its first row names the columns: `source`, then one target
language code per column; each further row is a term and its rendering in each target (an empty
cell keeps the source term as it is, the usual wish for names). Lines starting with # are comments.

    source	en	ta
    राहुल	Rahul	ராகுல்
    दूरदर्शन	Doordarshan

The global glossary is config/glossary.tsv (optional); a job's own (prepare-job.sh --glossary FILE,
copied into the job) adds to it and wins on the same term. Before translation every term is replaced
by a placeholder the model copies through ([1], [2] ...), and the target rendering is put back
afterwards; the source terms also go to ASR as hotwords, so they are heard and spelled right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from shared.core import config, languages
from shared.core.errors import UserError

GLOBAL_PATH = config.CONFIG_DIR / "glossary.tsv"
JOB_FILE = "glossary.tsv"
_PLACEHOLDER = "[{}]"
_PLACEHOLDER_RE = re.compile(r"\[\s*(\d+)\s*\]")


@dataclass
class Glossary:
    terms: dict[str, dict[str, str]] = field(default_factory=dict)  # source term -> {lang: rendering}

    def __bool__(self) -> bool:
        return bool(self.terms)

    def hotwords(self) -> str:
        return " ".join(self.terms)

    def protect(self, text: str, target: str) -> tuple[str, dict[str, str]]:
        """Replace every term in text by a numbered placeholder; returns the text and what each
        placeholder stands for in the target language."""
        mapping: dict[str, str] = {}
        for term, rendering in self.found(text, target).items():
            number = str(len(mapping) + 1)
            mapping[number] = rendering
            text = _term_pattern(term).sub(_PLACEHOLDER.format(number), text)
        return text, mapping

    def found(self, text: str, target: str) -> dict[str, str]:
        """The terms in text, longest first ("New Delhi" before "Delhi", which is then not found inside
        it), each with the rendering the target language must show."""
        base = target.partition("-")[0]
        out = {}
        for term in sorted(self.terms, key=len, reverse=True):
            pattern = _term_pattern(term)
            if pattern.search(text):
                out[term] = self.terms[term].get(target) or self.terms[term].get(base) or term
                text = pattern.sub(_PLACEHOLDER.format(""), text)
        return out

    @staticmethod
    def restore(text: str, mapping: dict[str, str]) -> str:
        if not mapping:
            return text
        return _PLACEHOLDER_RE.sub(lambda m: mapping.get(m.group(1), m.group(0)), text)


def _term_pattern(term: str) -> re.Pattern:
    # Word boundaries only where the term starts or ends with a word character of a script that
    # separates words with spaces; \b misreads Indic vowel signs, so Indic terms match as written.
    escaped = re.escape(term)
    if re.match(r"[A-Za-z0-9]", term[0]):
        escaped = r"\b" + escaped
    if re.match(r"[A-Za-z0-9]", term[-1]):
        escaped += r"\b"
    return re.compile(escaped)


def parse(path: Path) -> Glossary:
    """Read a glossary file; a malformed one is a one-line error with its line number."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()  # a BOM (spreadsheet exports) is fine
    except FileNotFoundError:
        raise UserError(f"glossary not found: {path}")
    except UnicodeDecodeError:
        raise UserError(f"glossary {path} is not UTF-8 text: save it as UTF-8")
    except IsADirectoryError:
        raise UserError(f"glossary {path} is a directory: give the path of a .tsv file")
    except PermissionError:
        raise UserError(f"glossary {path} cannot be read (permission denied): make it readable")
    header: list[str] | None = None
    glossary = Glossary()
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split("\t")]
        if header is None:
            if cells[0].lower() != "source" or len(cells) < 2:
                raise UserError(f"{path}:{number}: the first row must be 'source<TAB>lang<TAB>...' "
                                "(e.g. source, en, ta separated by tabs)")
            header = ["source"] + [languages.normalize(c) for c in cells[1:]]
            continue
        if len(cells) > len(header):
            raise UserError(f"{path}:{number}: {len(cells)} columns but the header names {len(header)}")
        if not cells[0]:
            raise UserError(f"{path}:{number}: the source term is empty")
        glossary.terms[cells[0]] = {lang: cell for lang, cell in zip(header[1:], cells[1:]) if cell}
    return glossary


def load(job_path: Path | None = None) -> Glossary:
    """The global glossary with the job's on top."""
    merged = Glossary()
    for path in (GLOBAL_PATH, job_path / JOB_FILE if job_path else None):
        if path is not None and path.exists():
            for term, targets in parse(path).terms.items():
                merged.terms[term] = {**merged.terms.get(term, {}), **targets}
    return merged
