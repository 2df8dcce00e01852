import pytest

from shared.core import languages
from shared.core.errors import UserError


def test_scheduled_languages_and_scripts():
    assert len(languages.INDIC) == 22
    assert languages.flores(languages.normalize("HI")) == "hin_Deva"
    assert languages.flores(languages.normalize("ks-deva")) == "kas_Deva"
    assert languages.flores("ur") == "urd_Arab" and languages.flores("mni-Mtei") == "mni_Mtei"
    assert languages.is_indic("ta") and not languages.is_indic("fr")
    assert languages.normalize("auto", allow_auto=True) == "auto"


@pytest.mark.parametrize("code", ["xx", "auto", "hi-Latn", ""])
def test_unknown_codes_refused(code):
    with pytest.raises(UserError):
        languages.normalize(code)
