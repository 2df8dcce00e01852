"""Translation: what goes to which translator, and the translators that are not local models.

plan (the route of a language pair to IndicTrans2 or NLLB-200, sentences joined from the
transcript, and a translation laid back onto their times), glossary (terms kept or forced), llm
(LLM providers through their official SDKs' protocols), romanize (a target in another script: hi-Latn). The models themselves run in
stages/translate.py.

May import: shared.core, shared.models, shared.subtitles (where a sentence ends).
"""
