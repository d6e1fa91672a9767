"""Where the CSS-Exchange recordings are: ../shared/fixtures/css-exchange beside the checkout (read
there, never copied). In a git worktree the main checkout's sibling is looked at too."""

from __future__ import annotations

from pathlib import Path


def fixtures_dir() -> Path:
    repo = Path(__file__).resolve().parents[1]
    candidates = [repo.parent / "shared" / "fixtures" / "css-exchange"]
    git = repo / ".git"
    if git.is_file():
        text = git.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir:"):
            worktree = Path(text[len("gitdir:"):].strip())
            if worktree.parent.name == "worktrees":  # <main>/.git/worktrees/<name>
                candidates.append(worktree.parents[2].parent / "shared" / "fixtures" / "css-exchange")
    return next((c for c in candidates if c.is_dir()), candidates[0])
