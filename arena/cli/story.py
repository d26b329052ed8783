"""The story of a battle on the terminal: the referee's summary sentence and one sentence per loss, under the
summary table of ``arena run`` and ``arena judge`` (the same sentences open report.html)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from arena.referee.story import Story

#: Loss sentences printed on the terminal (all of them are in result.json and the report).
SHOWN = 10


def story_lines(story: Story, shown: int = SHOWN) -> list[str]:
    """The summary, up to ``shown`` losses, the broken invariants, and how many losses were left out."""
    lines = [story.summary] if story.summary else []
    lines += [f"- {lo.sentence}" for lo in story.losses[:shown]]
    more = story.loss_count - min(shown, len(story.losses))
    if more > 0:
        lines.append(f"- ... and {more} more losses (result.json: story; report.html)")
    lines += [f"- {s}" for s in story.broken]
    return lines


def print_story(console: Console, raw: Any) -> None:
    """Print the story a result.json holds (``raw``: its ``story`` value; nothing is printed when it has none)."""
    story = raw if isinstance(raw, Story) else Story.from_result(raw)
    lines = story_lines(story)
    if not lines:
        return
    console.print("[bold]what happened[/bold]")
    for line in lines:
        console.print(escape(line), soft_wrap=True)
