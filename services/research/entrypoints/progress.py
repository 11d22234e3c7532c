"""A rich progress bar behind the application's Progress port."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class RichProgress:
    def __init__(self) -> None:
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def start(self, task: str, total: int | None = None) -> None:
        self.finish()
        self._task = self._bar.add_task(task, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)

    def finish(self) -> None:
        if self._task is not None:
            task = self._bar.tasks[-1]
            self._bar.update(
                self._task,
                total=task.total or task.completed or 1,
                completed=task.total or task.completed or 1,
            )
            self._task = None
