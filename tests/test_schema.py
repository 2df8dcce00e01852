"""The stage-to-stage contract: declared once in shared/core/schema.py, checked on every write and read,
and documented from the declarations."""

import json

import pytest

from conftest import REPO
from shared.core import schema
from shared.core.errors import UserError


def test_docs_segments_md_is_made_from_the_declarations():
    current = (REPO / "docs" / "segments.md").read_text(encoding="utf-8")
    assert schema.docs_text(current) == current, "docs/segments.md drifted: run python -m shared.core.schema --docs"
    for doc in schema.DOCUMENTS:
        assert f"`{doc.pattern}`" in current


def test_every_file_a_stage_writes_is_declared():
    from shared.jobs import workflows

    written = {name for _, outputs in workflows.STAGE_IO.values() for name in outputs if name.endswith(".json")}
    for name in written | {"job.json", "status.json", "translation.ta.json", "translation.pt-BR.json"}:
        schema.document(name)
    with pytest.raises(KeyError):
        schema.document("notes.json")


def transcript(**changes):
    data = {"language": "en", "language_probability": None, "duration": 3.0, "engine": "faster-whisper",
            "model": "tiny.en", "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": "Hi", "language": "en",
                                              "words": [{"start": 0.0, "end": 1.0, "word": " Hi", "probability": 0.9}]}]}
    data.update(changes)
    return data


@pytest.mark.parametrize("bad,fault", [
    ([], "should be an object"),
    (transcript(segments="none"), "segments should be a list"),
    (transcript(segments=[{"id": 0, "start": "0", "end": 1.0, "text": "", "language": None, "words": []}]),
     "segments[0].start should be float"),
    (transcript(duration=float("nan")), "duration"),
    ({k: v for k, v in transcript().items() if k != "segments"}, "lacks segments"),
])
def test_a_damaged_file_is_refused_on_read_with_the_stage_to_run_again(tmp_path, bad, fault):
    job = tmp_path / "clip-20260101-000000-abcd"
    job.mkdir()
    (job / "transcript.json").write_text(json.dumps(bad))
    with pytest.raises(UserError) as error:
        schema.read(job / "transcript.json")
    message = str(error.value)
    assert fault in message and f"-j {job.name} --from asr" in message and "\n" not in message


def test_a_writer_that_breaks_the_contract_is_a_bug_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="words"):
        schema.write(tmp_path / "transcript.json", transcript(segments=[{"id": 0, "start": 0.0, "end": 1.0,
                                                                         "text": "x", "language": "en"}]))
    assert list(tmp_path.iterdir()) == []
    schema.write(tmp_path / "transcript.json", transcript())
    assert schema.read(tmp_path / "transcript.json") == transcript()


def test_optional_fields_may_be_absent_but_not_wrong():
    assert schema.problem(transcript(), schema.Transcript) is None
    assert schema.problem(transcript(aligned=True, hotwords=None), schema.Transcript) is None
    assert "aligned" in schema.problem(transcript(aligned="yes"), schema.Transcript)
    assert "role" in schema.problem({"tracks": [{"language": "en", "role": "both", "cues": 1}]}, schema.Subtitles)
