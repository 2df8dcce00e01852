"""Review: the page a subtitler signs a job off on (out/<job-id>/review.html), from the job's files.

page (the data the page shows: each track's cues with their flags, the waveform's peaks, the speech
regions, shot changes, regions decoded again and segments dropped, and the media or a playable proxy
of it) and template.html (the page itself: its style and script, inside it, nothing fetched). Only
the review stage uses it; a batch's page of its jobs is shared/jobs/batches'.

May import: shared.core, shared.jobs, shared.subtitles.
"""

PAGE = "review.html"  # in the job directory
