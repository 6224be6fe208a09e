"""Reports, comparisons and COCO exports are written whole or not at all (``bench.staged``): a
failure part-way leaves the previous files byte for byte and no staging folder, a refused command
makes no folder, and a staging folder a killed process left is removed by the next command."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_reports_data import synthetic_records, write_results

import reports
from bench.staged import staged_folder
from landscapes.errors import InputError
from reports import style


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _mark_old(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` given content no build writes, so a file a build rewrote shows."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.write_bytes(b"old " + path.name.encode())
    return _files(folder)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("staged") / "results", synthetic_records())


def test_a_report_rebuild_that_fails_part_way_keeps_the_old_report_whole(results, tmp_path, monkeypatch):
    out = tmp_path / "report"
    reports.build_report(results, out, formats=("png",), workers=1)
    (out / "notes.txt").write_text("mine")  # a file of the user's in the report folder
    before = _mark_old(out)
    assert any(name.startswith("figures/") for name in before)
    real_save, saved = style.save, []

    def save_then_fill_the_disk(fig, directory, stem, formats=("png", "svg")):
        if len(saved) == 3:  # some figures are written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(stem)
        return real_save(fig, directory, stem, formats)

    monkeypatch.setattr(style, "save", save_then_fill_the_disk)
    monkeypatch.setattr("reports.report.save", save_then_fill_the_disk)
    with pytest.raises(OSError):
        reports.build_report(results, out, formats=("png",), workers=1)
    assert len(saved) == 3
    assert _files(out) == before  # every old file as it was, the user's too, nothing half-written
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging folder


def test_a_rebuilt_report_replaces_the_old_files_and_keeps_the_users(results, tmp_path):
    out = tmp_path / "report"
    reports.build_report(results, out, formats=("png",), workers=1)
    page = out / "report.html"
    page.write_text("old")
    (out / "notes.txt").write_text("mine")
    assert reports.build_report(results, out, formats=("png",), workers=1) == page
    assert page.read_text(encoding="utf-8") != "old"
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["figures", "notes.txt", "report.html", "report.md"]


def test_a_refused_or_failed_command_makes_no_folder(results, tmp_path):
    nested = tmp_path / "a" / "b" / "report"
    with pytest.raises(InputError):
        reports.build_report(tmp_path / "no_results", nested)
    with pytest.raises(InputError):
        reports.compare_runs(results, tmp_path / "no_results", nested)
    assert not (tmp_path / "a").exists()
    with pytest.raises(RuntimeError):
        with staged_folder(nested) as staging:
            (staging / "half.md").write_text("half")
            raise RuntimeError("failed part-way")
    assert sorted(tmp_path.iterdir()) == []  # the folders made for it are gone too


def test_a_new_folder_appears_whole(tmp_path):
    out = tmp_path / "new"
    with staged_folder(out) as staging:
        assert staging.parent == tmp_path and not out.exists()
        (staging / "sub").mkdir()
        (staging / "sub" / "a.txt").write_text("a")
    assert _files(out) == {"sub/a.txt": b"a"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]


def test_a_killed_commands_staging_folder_is_removed_by_the_next_one(results, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    stale = out / f".report.staging-{_dead_pid()}.abcd"
    (stale / "figures").mkdir(parents=True)
    (stale / "figures" / "half.png").write_bytes(b"\x89PNG")
    alive = out / f".report.staging-{os.getpid()}.efgh"  # a command still building: left alone
    alive.mkdir()
    reports.build_report(results, out, formats=("png",), workers=1)
    assert not stale.exists() and alive.exists()
    beside = tmp_path / f".coco.staging-{_dead_pid()}.ijkl"  # an export killed before its rename
    beside.mkdir()
    with staged_folder(tmp_path / "coco") as staging:
        (staging / "x").write_text("x")
    assert not beside.exists() and (tmp_path / "coco" / "x").is_file()


def test_a_comparison_rebuild_that_fails_keeps_the_old_one(results, tmp_path, monkeypatch):
    out = tmp_path / "comparison"
    page = reports.compare_runs(results, results, out, formats=("png",))
    assert page == out / "compare.html"
    before = _mark_old(out)
    from reports import document

    def full(self, out_dir, stem):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(document.Document, "write", full)
    with pytest.raises(OSError):
        reports.compare_runs(results, results, out, formats=("png",))
    assert _files(out) == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("kind", ["a folder where the new files have a file",
                                  "a file where the new files have a folder"])
def test_a_namesake_of_the_other_kind_is_refused_before_anything_moves(tmp_path, kind):
    """The user's folder ``report.md/`` (and what it holds) was removed to make way for the new
    file; the user's file ``figures`` made the move fail half-way, the page new and the rest old."""
    out = tmp_path / "report"
    out.mkdir()
    for name in "abcdefgh":
        (out / f"{name}.txt").write_text("old")
    if kind.startswith("a folder"):
        (out / "report.md").mkdir()
        (out / "report.md" / "notes.txt").write_text("mine")
    else:
        (out / "figures").write_text("mine")
    before = _files(out)
    with pytest.raises(InputError, match="report.md" if kind.startswith("a folder") else "figures"):
        with staged_folder(out) as staging:
            for name in "abcdefgh":
                (staging / f"{name}.txt").write_text("new")
            (staging / "report.md").write_text("new")
            (staging / "figures").mkdir()
            (staging / "figures" / "a.png").write_bytes(b"new")
    assert _files(out) == before  # nothing moved, the user's files kept
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_a_folder_another_command_made_meanwhile_is_filled_not_refused(tmp_path):
    """Two reports into the same new folder at once: the second to finish failed "could not write
    the report ... (Directory not empty)", its rename blocked by the first's folder."""
    out = tmp_path / "new"
    with staged_folder(out) as staging:
        (staging / "figures").mkdir()
        (staging / "figures" / "a.png").write_bytes(b"ours")
        (staging / "report.html").write_text("ours")
        (out / "figures").mkdir(parents=True)  # the other command's, moved into place meanwhile
        (out / "figures" / "b.png").write_bytes(b"theirs")
        (out / "report.html").write_text("theirs")
    assert _files(out) == {"figures/a.png": b"ours", "figures/b.png": b"theirs", "report.html": b"ours"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]  # no staging folder left


def test_a_folder_with_a_long_name_can_be_written(tmp_path):
    """A name of 240 characters (the file system takes 255) worked before staging; its staging
    folder's name, the name and 25 more characters, was "File name too long"."""
    out = tmp_path / ("r" * 240)
    with staged_folder(out) as staging:
        (staging / "a.txt").write_text("a")
    with staged_folder(out) as staging:  # and staged inside it, once it exists
        (staging / "b.txt").write_text("b")
    assert _files(out) == {"a.txt": b"a", "b.txt": b"b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
