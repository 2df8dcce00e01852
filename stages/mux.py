"""Mux: the job's subtitle tracks as soft subtitles in a copy of the media, video and audio copied;
with burn_in (prepare-job.sh --burn-in), also a copy with the first track drawn into the picture.

MP4-family input keeps its container with mov_text tracks (the only text codec MP4 players read);
anything else with video becomes Matroska with SRT tracks; audio-only input becomes .mka. Each track
carries its ISO 639-2 language tag and a title; the first track (a translation, when there is one)
is the default. The file lands beside the subtitles: subtitles/<media-stem>.subtitled.<ext>.
"""

from __future__ import annotations

from pathlib import Path

from shared.core import languages, media, schema
from shared.core.errors import UserError, run_cli
from shared.jobs import job_dirs
from stages._common import stage_args

MP4_FAMILY = {".mp4", ".m4v", ".mov"}


def container_for(source: Path, has_video: bool) -> tuple[str, str]:
    """(output extension, subtitle codec)."""
    if source.suffix.lower() in MP4_FAMILY:
        return source.suffix.lower(), "mov_text"
    return (".mkv" if has_video else ".mka"), "srt"


def mux_args(source: Path, tracks: list[dict], job_path: Path, codec: str) -> list[str]:
    """ffmpeg's arguments before the output file."""
    cmd = ["-i", str(source)]
    for track in tracks:
        cmd += ["-i", str(job_path / track["srt"])]
    cmd += ["-map", "0:v?", "-map", "0:a", "-c:v", "copy", "-c:a", "copy", "-c:s", codec]
    for index, track in enumerate(tracks):
        cmd += ["-map", f"{index + 1}:0"]
    for index, track in enumerate(tracks):
        lang = track["language"]
        known = lang.partition("-")[0] in languages.LANGUAGES
        title = languages.name(lang) if known else lang
        if known and lang.partition("-")[2]:
            title += f" ({lang.partition('-')[2]})"  # hi-Latn: Hindi (Latn)
        if track.get("role") == "source":
            title += " (original)"
        cmd += [f"-metadata:s:s:{index}", f"language={languages.iso639_2(lang) if known else 'und'}",
                f"-metadata:s:s:{index}", f"title={title}",
                f"-disposition:s:{index}", "default" if index == 0 else "0"]
    return cmd


def burn_in(job_path: Path, source: Path, track: dict, ext: str) -> Path:
    """A copy of the video with the track drawn into the picture by libass (ffmpeg's ass filter):
    its styled ASS file when the job wrote one (a Noto font for its script), else its SRT. The video
    is re-encoded (H.264, quality 18); the audio is copied. The subtitle file is copied to a plain
    name in the job directory first, so no path needs escaping inside the filter graph."""
    kind = "ass" if "ass" in track else "srt"
    plain = job_path / f".burn-in.{kind}"
    plain.write_bytes((job_path / track[kind]).read_bytes())
    output = job_path / "subtitles" / f"{job_dirs.safe_name(source.stem)}.burned{'.mp4' if ext in MP4_FAMILY else '.mkv'}"
    try:
        media.ffmpeg_to(output, ["-i", str(source), "-map", "0:v:0", "-map", "0:a?", "-vf",
                                 f"{'ass' if kind == 'ass' else 'subtitles'}={plain.name}", "-c:v", "libx264",
                                 "-crf", "18", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "copy"],
                        f"ffmpeg could not burn the {track['language']} subtitles into {output.name}", cwd=job_path)
    finally:
        plain.unlink(missing_ok=True)
    return output


def main() -> int:
    job_path, job, settings = stage_args("mux")
    source = Path(job["media"])
    tracks = [t for t in job_dirs.subtitle_tracks(job_path) if "srt" in t]
    if not tracks:
        raise UserError("no subtitle tracks to mux: run the subtitles stage first")
    info = media.probe(source)
    ext, codec = container_for(source, info["video_streams"] > 0)
    output = job_path / "subtitles" / f"{job_dirs.safe_name(source.stem)}.subtitled{ext}"
    media.ffmpeg_to(output, mux_args(source, tracks, job_path, codec),
                    f"ffmpeg could not mux the subtitles into {output.name}")
    record = {"output": str(output.relative_to(job_path)), "subtitle_codec": codec,
              "tracks": [t["language"] for t in tracks]}
    if settings["burn_in"]:
        if info["fps"] is None:
            raise UserError(f"{source.name} has no picture to burn subtitles into: drop --burn-in")
        burned = burn_in(job_path, source, tracks[0], ext)
        record.update(burned=str(burned.relative_to(job_path)), burned_track=tracks[0]["language"])
    schema.write(job_path / "mux.json", record)
    return 0


if __name__ == "__main__":
    run_cli(main, prog="mux")
