"""Subtitles: the rules a cue obeys, and subtitle files in and out.

rules (readability: characters per line and second, durations, gaps, line breaks, shot changes, and
the one answer to "does a sentence end here?" in a given language), reader (a user's subtitle file
as timed text, through pysubs2) and writer (cues into SRT, WebVTT, ASS and TTML).

May import: shared.core only.
"""
